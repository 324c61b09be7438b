import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RemoteBackend } from '../../../provider/remote/backend'
import { FileBackend } from '../../../provider/remote/file/file-backend'
import { listVmBackups } from '../../../provider/remote/layout/vm-backups'
import { acquireLock } from '../../../provider/remote/lock'
import { applyRetention, cleanVm, planRetention } from '../../../provider/remote/maintenance'
import { CountingFile } from '../../disk/helpers'
import { BLOCK, DAY, expectBackupRestores, MiB, Repository, T0 } from './fixtures'

/**
 * The cost of clean-vm's merges is the changed data, not the disk: counted in block-sized reads and
 * writes through the remote (never in time), the same for a 2 GiB and a 200 GiB virtual disk with
 * the same changes. Only the BATs (4 bytes per 2 MiB of virtual size) grow with the disk.
 */

let work: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'xcp-merge-cost-'))
})
afterAll(() => rm(work, { recursive: true, force: true }))

interface Counts {
  dataReads: number
  dataWrites: number
  readBytes: number
  writtenBytes: number
}

/** A backend whose opened files count their reads and writes; block-sized ones are data. */
function counting(inner: RemoteBackend, counts: Counts): RemoteBackend {
  const files: CountingFile[] = []
  return {
    ...inner,
    name: inner.name,
    capabilities: inner.capabilities,
    save: (...args) => inner.save(...args),
    read: (...args) => inner.read(...args),
    stat: (...args) => inner.stat(...args),
    list: (...args) => inner.list(...args),
    remove: (...args) => inner.remove(...args),
    removeDirectory: (...args) => inner.removeDirectory(...args),
    rename: (...args) => inner.rename(...args),
    mkdir: (...args) => inner.mkdir(...args),
    setModifiedTime: (...args) => inner.setModifiedTime(...args),
    freeSpace: () => inner.freeSpace(),
    close: () => inner.close(),
    open: async (path, mode) => {
      const file = new CountingFile(await inner.open(path, mode), BLOCK)
      files.push(file)
      const close = file.close
      file.close = async () => {
        counts.dataReads += file.dataReads
        counts.dataWrites += file.dataWrites
        counts.readBytes += file.readBytes
        counts.writtenBytes += file.writtenBytes
        await close()
      }
      return file
    },
  }
}

async function mergeCost(virtualSize: number): Promise<Counts> {
  const root = await mkdtemp(join(work, 'repo-'))
  const backend = await FileBackend.open(root)
  const repo = new Repository(backend, {
    disks: [{ ref: 'OpaqueRef:data', liveUuid: '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', virtualSize }],
  })
  // The same blocks change in both disks, some at the start, some far into the disk.
  const far = Math.floor(virtualSize / BLOCK) - 1
  await repo.full(T0, [0, 1, 2, 3, 4, 5, far])
  await repo.delta(T0 + DAY, [1, 7, far])
  const kept = await repo.delta(T0 + 2 * DAY, [2, 8])
  const lock = await acquireLock(backend, repo.dir)
  try {
    const plan = await planRetention(
      backend,
      { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'delta' },
      { retention: 1 },
      'after-transfer',
    )
    await applyRetention(backend, plan, { lock })
    const counts: Counts = { dataReads: 0, dataWrites: 0, readBytes: 0, writtenBytes: 0 }
    const result = await cleanVm(counting(backend, counts), repo.vmUuid, { merge: true, remove: true, lock })
    expect(result.merges.map((m) => m.mergedBlocks)).toEqual([3, 2])
    expect((await listVmBackups(backend, repo.vmUuid)).backups.map((b) => b.path)).toEqual([kept.path])
    await expectBackupRestores(backend, kept, { sparse: true })
    return counts
  } finally {
    await lock.release()
  }
}

describe('merge cost', () => {
  it('reads and writes the changed blocks only, whatever the virtual size', async () => {
    const small = await mergeCost(2 * 1024 * MiB)
    const large = await mergeCost(200 * 1024 * MiB)
    // 5 child blocks merged (3 then 2): each read once from the child and written once into the parent.
    expect(small.dataReads).toBe(5)
    expect(small.dataWrites).toBe(5)
    expect(large.dataReads).toBe(small.dataReads)
    expect(large.dataWrites).toBe(small.dataWrites)
    // Besides the blocks, bytes moved are metadata: headers, footers, bitmaps and BATs. The BATs
    // grow with the virtual size (100 times larger here), nothing else does.
    const blockBytes = 5 * (BLOCK + 512)
    expect(small.writtenBytes - blockBytes).toBeLessThan(64 * 1024)
    expect(large.writtenBytes - blockBytes).toBeLessThan(64 * 1024)
    const batBytes = (size: number) => (size / BLOCK) * 4
    expect(large.readBytes - small.readBytes).toBeLessThan(40 * (batBytes(200 * 1024 * MiB) - batBytes(2 * 1024 * MiB)))
  }, 120_000)
})
