import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RemoteBackend } from '../../provider/remote/backend'
import { RemoteError } from '../../provider/remote/errors'
import { FileBackend } from '../../provider/remote/file/file-backend'
import { saveFullBackupData } from '../../provider/remote/layout/backup-data'
import { vmBackupDir } from '../../provider/remote/layout/paths'
import { SmbBackend } from '../../provider/remote/smb/smb-backend'
import { createSmallFilesystem } from '../helpers/remote-small-fs'
import { startSamba } from '../helpers/samba'
import { generated, readAll } from './backend-contract'

const MiB = 1024 * 1024
const SIZE = 32 * MiB

/**
 * A remote that fills up: real 32 MiB file systems (tmpfs in a private mount namespace), reached as
 * a local directory and as a Samba share. ENOSPC comes from the kernel, not from a mock.
 */
const subjects: [string, () => Promise<{ backend: RemoteBackend; cleanup(): Promise<void> }>][] = [
  [
    'file',
    async () => {
      const fs = await createSmallFilesystem(SIZE)
      return { backend: await FileBackend.open(fs.path, { name: '"nightly-nas"' }), cleanup: () => fs.stop() }
    },
  ],
  [
    'smb',
    async () => {
      const samba = await startSamba({ shareSizeBytes: SIZE })
      const backend = await SmbBackend.connect(samba.location(), samba.password, { name: '"nightly-nas"' }).catch(
        async (error: unknown) => {
          await samba.stop()
          throw error
        },
      )
      return {
        backend,
        cleanup: async () => {
          await backend.close()
          await samba.stop()
        },
      }
    },
  ],
]

describe.each(subjects)('a %s remote that fills up', (_name, setup) => {
  let backend: RemoteBackend
  let cleanup: () => Promise<void>
  const older: Record<string, string> = {}

  beforeAll(async () => {
    ;({ backend, cleanup } = await setup())
    // Two older backups that must survive everything below.
    await backend.mkdir('old', { recursive: true })
    for (const name of ['old/a.xva', 'old/b.xva']) {
      const hash = createHash('sha256')
      await backend.save(
        name,
        generated(6 * MiB, MiB, (chunk) => hash.update(chunk)),
      )
      older[name] = hash.digest('hex')
    }
  })
  afterAll(() => cleanup?.())

  const expectOlderIntact = async () => {
    for (const [name, digest] of Object.entries(older)) {
      expect(
        createHash('sha256')
          .update(await readAll(await backend.read(name)))
          .digest('hex'),
      ).toBe(digest)
    }
  }

  it('refuses before writing when the expected size does not fit', async () => {
    const free = (await backend.freeSpace())!.available
    const error = await backend
      .save('new/full.xva', generated(MiB, MiB), { expectedSize: 64 * MiB })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({ code: 'ENOSPC' })
    const message = (error as Error).message
    expect(message).toContain('not enough space on remote "nightly-nas" to write "new/full.xva"')
    expect(message).toContain('64.0 MiB (67108864 bytes) needed')
    expect(message).toMatch(/\d+\.\d MiB \(\d+ bytes\) free/)
    expect(message).toContain('nothing was written')
    expect(message).toContain(
      'Lower the retention of the jobs writing to this remote, free space on it, or add another remote',
    )
    expect((await backend.freeSpace())!.available).toBe(free)
  })

  it('a transfer that runs out of space mid-stream leaves no partial file and the older backups intact', async () => {
    await backend.mkdir('new', { recursive: true })
    const before = (await backend.freeSpace())!.available
    let validated = false
    const error = await backend
      .save('new/full.xva', generated(64 * MiB, MiB), {
        validator: async () => {
          validated = true
        },
      })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ENOSPC' })
    const message = (error as Error).message
    expect(message).toMatch(/more than \d+\.\d MiB \(\d+ bytes\) needed/)
    expect(message).toMatch(
      /the partial file of \d+\.\d MiB \(\d+ bytes\) was removed and existing backups are untouched/,
    )
    expect(validated).toBe(false)
    expect(await backend.list('new')).toEqual([])
    await expectOlderIntact()
    // The space the partial file took is given back.
    expect((await backend.freeSpace())!.available).toBeGreaterThanOrEqual(before - MiB)
  })

  it('a full backup that does not fit leaves neither XVA nor checksum', async () => {
    const vm = '00000000-0000-4000-8000-00000000e05c'
    await expect(saveFullBackupData(backend, vm, 1787281212000, generated(64 * MiB, MiB))).rejects.toMatchObject({
      code: 'ENOSPC',
    })
    expect(await backend.list(vmBackupDir(vm))).toEqual([])
    await expectOlderIntact()
  })

  it('a write in place that hits ENOSPC (a merge) fails with ENOSPC and leaves other files alone', async () => {
    const file = await backend.open('new/merge-target.vhd', 'create')
    const block = Buffer.alloc(2 * MiB, 1)
    let error: unknown
    for (let i = 0; i < 32 && error === undefined; i++) {
      await file.write(i * block.length, block).catch((e: unknown) => {
        error = e
      })
    }
    await file.close()
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({ code: 'ENOSPC' })
    await backend.remove('new/merge-target.vhd')
    await expectOlderIntact()
  })
})
