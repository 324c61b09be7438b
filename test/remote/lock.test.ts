import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import lockfile from 'proper-lockfile'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RemoteBackend } from '../../provider/remote/backend'
import { RemoteError } from '../../provider/remote/errors'
import { FileBackend } from '../../provider/remote/file/file-backend'
import { acquireLock, inspectLock, type Lock, lockPathOf } from '../../provider/remote/lock'
import { SmbBackend } from '../../provider/remote/smb/smb-backend'
import { spawnTs } from '../helpers/remote-child'
import { type SambaServer, startSamba } from '../helpers/samba'

const holderEntry = join(__dirname, 'fixtures', 'lock-holder.ts')

interface LockSubject {
  backend: RemoteBackend
  /** The holder child's view of the same remote. */
  childRemote: object
  childEnv: Record<string, string>
  cleanup(): Promise<void>
}

const subjects: [string, () => Promise<LockSubject>][] = [
  [
    'file',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'xcp-lock-'))
      return {
        backend: await FileBackend.open(root),
        childRemote: { type: 'file', root },
        childEnv: {},
        cleanup: () => rm(root, { recursive: true, force: true }),
      }
    },
  ],
  [
    'smb',
    async () => {
      const samba: SambaServer = await startSamba()
      const backend = await SmbBackend.connect(samba.location(), samba.password).catch(async (error: unknown) => {
        await samba.stop()
        throw error
      })
      return {
        backend,
        childRemote: { type: 'smb', location: samba.location() },
        childEnv: { XCP_TEST_SMB_PASSWORD: samba.password },
        cleanup: async () => {
          await backend.close()
          await samba.stop()
        },
      }
    },
  ],
]

describe.each(subjects)('VM lock on a %s remote', (_name, setup) => {
  let subject: LockSubject
  let backend: RemoteBackend
  let counter = 0
  const vmPath = () => `xo-vm-backups/00000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`

  beforeAll(async () => {
    subject = await setup()
    backend = subject.backend
  })
  afterAll(async () => {
    await subject?.cleanup()
  })

  it('a second locker gets ELOCKED saying who holds it, since when, and what to do', async () => {
    const path = vmPath()
    const held = await acquireLock(backend, path, { runId: 'run-A' })
    const error = await acquireLock(backend, path, { runId: 'run-B' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({ code: 'ELOCKED' })
    const message = (error as Error).message
    expect(message).toContain('Lock file is already being held')
    expect(message).toContain(`${path} on remote ${backend.name}`)
    expect(message).toMatch(
      new RegExp(`xcp-backup run run-A on host ${hostname()} \\(pid ${process.pid}\\) since \\d{4}-`),
    )
    expect(message).toMatch(/refreshed \d+ s ago, so its holder is alive/)
    expect(message).toContain('Wait for that backup or merge to finish')
    expect(message).toContain('recovered automatically 10 s after its last refresh')

    await held.release()
    expect(await inspectLock(backend, path)).toBeUndefined()
    const next = await acquireLock(backend, path, { runId: 'run-B' })
    expect((await inspectLock(backend, path))?.owner?.runId).toBe('run-B')
    await next.release()
  })

  it('keeps the lock alive past the stale time while it is held', async () => {
    const path = vmPath()
    const held = await acquireLock(backend, path, { staleMs: 2000, updateMs: 500 })
    await sleep(3000)
    await expect(acquireLock(backend, path, { staleMs: 2000 })).rejects.toMatchObject({ code: 'ELOCKED' })
    expect(held.lost).toBe(false)
    await held.release()
  })

  it('recovers a lock left by a killed process once it is stale', async () => {
    const path = vmPath()
    const staleMs = 2000
    const child = spawnTs(
      holderEntry,
      [JSON.stringify({ remote: subject.childRemote, path, staleMs, runId: 'killed-run' })],
      subject.childEnv,
    )
    try {
      await child.waitFor('locked')
    } finally {
      await child.kill('SIGKILL')
    }
    const left = await inspectLock(backend, path, staleMs)
    expect(left?.owner).toMatchObject({ runId: 'killed-run', pid: child.process.pid })

    // Right after the kill the lock still looks alive: refused, naming the dead holder.
    await expect(acquireLock(backend, path, { staleMs })).rejects.toThrow(/run killed-run on host/)

    let lock: Lock | undefined
    const deadline = Date.now() + 15_000
    while (lock === undefined && Date.now() < deadline) {
      lock = await acquireLock(backend, path, { staleMs, runId: 'recovering-run' }).catch(() => undefined)
      if (lock === undefined) await sleep(200)
    }
    expect(lock).toBeDefined()
    // Taken over only once the dead holder's last refresh was more than staleMs old.
    expect(Date.now() - left!.refreshedAt.getTime()).toBeGreaterThanOrEqual(staleMs)
    expect((await inspectLock(backend, path, staleMs))?.owner).toMatchObject({
      runId: 'recovering-run',
      pid: process.pid,
    })
    await lock!.release()
  })

  it('re-acquires a lock removed from under it, as XO does', async () => {
    const path = vmPath()
    const messages: string[] = []
    const held = await acquireLock(backend, path, { staleMs: 2000, updateMs: 300, log: (m) => messages.push(m) })
    await backend.removeDirectory(lockPathOf(path))
    await sleep(1000)
    expect(held.lost).toBe(false)
    expect((await backend.stat(lockPathOf(path))).kind).toBe('directory')
    expect(messages.some((m) => m.includes('re-acquired'))).toBe(true)
    await held.release()
  })

  it('reports a lock taken over by another holder as lost and leaves the new holder alone', async () => {
    const path = vmPath()
    const lost: RemoteError[] = []
    const held = await acquireLock(backend, path, { staleMs: 2000, updateMs: 300, onCompromised: (e) => lost.push(e) })
    // Another holder (one that thought ours had gone stale) replaces the directory and keeps it fresh.
    await backend.removeDirectory(lockPathOf(path))
    await backend.mkdir(lockPathOf(path))
    const touch = () => backend.setModifiedTime(lockPathOf(path), new Date(Date.now() - 123))
    await touch()
    const keepAlive = setInterval(() => void touch(), 200)
    try {
      await sleep(1200)
      expect(held.lost).toBe(true)
      expect(lost).toHaveLength(1)
      expect(lost[0]!.code).toBe('ECOMPROMISED')
      expect(() => held.assertHeld()).toThrow(/was lost .* could not be taken again/)
      await held.release()
      // Releasing a lost lock leaves the new holder's directory in place.
      expect((await backend.stat(lockPathOf(path))).kind).toBe('directory')
    } finally {
      clearInterval(keepAlive)
    }
    await backend.removeDirectory(lockPathOf(path))
  })
})

describe('VM lock interoperability with proper-lockfile (the library XO locks with)', () => {
  let root: string
  let backend: RemoteBackend
  const vm = 'xo-vm-backups/11111111-2222-4333-8444-555555555555'

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'xcp-lock-xo-'))
    backend = await FileBackend.open(root)
    // proper-lockfile resolves the locked path with realpath: XO's VM directory exists.
    await mkdir(join(root, vm), { recursive: true })
  })
  afterAll(() => rm(root, { recursive: true, force: true }))

  it('XO holding the lock blocks us, and the message says the holder did not identify itself', async () => {
    const release = await lockfile.lock(join(root, vm))
    try {
      const error = await acquireLock(backend, vm).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'ELOCKED' })
      expect((error as Error).message).toContain('a process that did not identify itself')
    } finally {
      await release()
    }
  })

  it('our lock blocks XO', async () => {
    const held = await acquireLock(backend, vm)
    await expect(lockfile.lock(join(root, vm))).rejects.toMatchObject({ code: 'ELOCKED' })
    await held.release()
    const release = await lockfile.lock(join(root, vm))
    await release()
  })

  it('XO recovers a lock left by a killed xcp-backup (the owner record lives outside the lock directory)', async () => {
    const child = spawnTs(holderEntry, [
      JSON.stringify({ remote: { type: 'file', root }, path: vm, staleMs: 2000, runId: 'dead' }),
    ])
    try {
      await child.waitFor('locked')
    } finally {
      await child.kill('SIGKILL')
    }
    let release: (() => Promise<void>) | undefined
    const deadline = Date.now() + 15_000
    while (release === undefined && Date.now() < deadline) {
      release = await lockfile.lock(join(root, vm), { stale: 2000 }).catch(() => undefined)
      if (release === undefined) await sleep(200)
    }
    expect(release).toBeDefined()
    // While XO holds it, our leftover owner record is recognised as outdated, not shown as the holder.
    const error = await acquireLock(backend, vm, { staleMs: 2000 }).catch((e: unknown) => e)
    expect((error as Error).message).toContain('did not identify itself')
    await release!()
  })

  it('why the owner record is not inside the lock directory: XO could not remove such a stale lock', async () => {
    const lockDir = join(root, `${vm}.lock`)
    await mkdir(lockDir)
    await writeFile(join(lockDir, 'owner.json'), '{}')
    await backend.setModifiedTime(`${vm}.lock`, new Date(Date.now() - 60_000))
    await expect(lockfile.lock(join(root, vm))).rejects.toMatchObject({ code: 'ENOTEMPTY' })
    await rm(lockDir, { recursive: true })
  })
})
