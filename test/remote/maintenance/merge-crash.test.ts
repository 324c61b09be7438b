import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openLocalFile } from '../../../provider/disk/io'
import { DiskType } from '../../../provider/disk/vhd/constants'
import { checkVhdFile } from '../../../provider/disk/vhd/vhd-file'
import type { RemoteBackend } from '../../../provider/remote/backend'
import { FileBackend } from '../../../provider/remote/file/file-backend'
import { cachePath, vmBackupDir } from '../../../provider/remote/layout/paths'
import { listVmBackups } from '../../../provider/remote/layout/vm-backups'
import { acquireLock } from '../../../provider/remote/lock'
import { cleanVm } from '../../../provider/remote/maintenance/clean-vm'
import type { CleanVmResult } from '../../../provider/remote/maintenance/report'
import { applyRetention, planRetention } from '../../../provider/remote/maintenance/retention'
import { SmbBackend } from '../../../provider/remote/smb/smb-backend'
import { sh } from '../../disk/helpers'
import { spawnTs } from '../../helpers/remote-child'
import { type SambaServer, startSamba } from '../../helpers/samba'
import type { CrashChildConfig } from './crash-child'
import {
  type BuiltBackup,
  DAY,
  expectBackupRestores,
  expectQemuRawEquals,
  MiB,
  Repository,
  randomBlocks,
  T0,
} from './fixtures'

/**
 * Crash safety of retention + clean-vm + merges, with real process deaths: a child process runs
 * them and is SIGKILLed right before its k-th change to the remote (every block write, state save,
 * rename, removal, metadata rewrite...). Then the same work runs again to completion, and nothing
 * may be lost: the backups retention keeps are complete and restore byte for byte, the oldest kept
 * one is the merged full, no orphan, temporary file or merge state is left.
 */

const STALE_MS = 400
/** A killed holder's lock is taken over once stale; its mtime may be up to 1 s ahead (proper-lockfile's precision probe). */
const LOCK_RECOVERY_MS = STALE_MS + 1100
const child = join(__dirname, 'crash-child.ts')

let work: string
let template: string
let repo: Repository
let kept: BuiltBackup[]

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'xcp-merge-crash-'))
  template = join(work, 'template')
  await mkdir(template)
  repo = new Repository(await FileBackend.open(template), {
    disks: [{ ref: 'OpaqueRef:root', liveUuid: '5f4e3d2c-1b0a-4998-8776-655443322110', virtualSize: 24 * MiB }],
  })
  await repo.full(T0, randomBlocks(8, 12))
  await repo.delta(T0 + DAY, randomBlocks(3, 12))
  await repo.delta(T0 + 2 * DAY, randomBlocks(3, 12))
  await repo.delta(T0 + 3 * DAY, randomBlocks(2, 12))
  await repo.delta(T0 + 4 * DAY, randomBlocks(2, 12))
  kept = repo.backups.slice(2)
})
afterAll(() => rm(work, { recursive: true, force: true }))

function config(root: string, killAt?: number): CrashChildConfig {
  return {
    remote: { type: 'file', root },
    vmUuid: repo.vmUuid,
    scheduleId: repo.scheduleId,
    retention: 3,
    killAt,
    staleMs: STALE_MS,
  }
}

async function runChild(
  cfg: CrashChildConfig,
  env: Record<string, string> = {},
): Promise<{ killed: boolean; operations: string[]; result?: CleanVmResult }> {
  const process = spawnTs(child, [JSON.stringify(cfg)], env)
  const code = await process.exited
  if (process.process.signalCode === 'SIGKILL') return { killed: true, operations: [] }
  if (code !== 0) throw new Error(`crash child failed (${code}):\n${process.output()}`)
  const line = process.output().trim().split('\n').at(-1)!
  return { killed: false, ...(JSON.parse(line) as { operations: string[]; result: CleanVmResult }) }
}

/**
 * What a restarted runner does: the same retention and clean-vm, in this process. The killed
 * child's lock is taken over once stale (or, with `breakLock`, removed at once: the test saw its
 * holder die, and lock staleness has its own tests).
 */
async function recover(backend: RemoteBackend, options: { breakLock?: boolean } = {}): Promise<CleanVmResult> {
  if (options.breakLock) {
    await backend.removeDirectory(`${vmBackupDir(repo.vmUuid)}.lock`).catch(() => {})
  } else {
    await sleep(LOCK_RECOVERY_MS)
  }
  const lock = await acquireLock(backend, vmBackupDir(repo.vmUuid), { staleMs: STALE_MS })
  try {
    const plan = await planRetention(
      backend,
      { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'delta' },
      { retention: 3 },
      'after-transfer',
    )
    await applyRetention(backend, plan, { lock })
    return await cleanVm(backend, repo.vmUuid, { merge: true, remove: true, lock })
  } finally {
    await lock.release()
  }
}

/** Nothing lost, nothing left over. */
async function expectClean(backend: RemoteBackend, localRoot: string | undefined, context: string): Promise<void> {
  const ref = repo.disks[0]!.ref
  const listing = await listVmBackups(backend, repo.vmUuid)
  expect(
    listing.backups.map((b) => [b.path, b.status]),
    context,
  ).toEqual(kept.map((b) => [b.path, 'complete']))
  const files = (await backend.list(repo.vdiDir())).map((entry) => entry.name).sort()
  expect(files, context).toEqual(kept.map((b) => posix.basename(b.disks.get(ref)!.vhd)))
  const vmFiles = (await backend.list(repo.dir)).map((entry) => entry.name).sort()
  expect(vmFiles, context).toEqual(['cache.json.gz', ...kept.map((b) => posix.basename(b.path)), 'vdis'].sort())
  for (const backup of kept) await expectBackupRestores(backend, backup)
  const metadata = JSON.parse((await readAll(await backend.read(kept[0]!.path))).toString())
  expect(metadata.isVhdDifferencing, context).toEqual({ [ref]: false })
  const cache = JSON.parse(gunzipSync(await readAll(await backend.read(cachePath(repo.vmUuid)))).toString())
  expect(Object.keys(cache).sort(), context).toEqual(kept.map((b) => `/${b.path}`))
  expect(cache[`/${kept[0]!.path}`].isVhdDifferencing, context).toEqual({ [ref]: false })
  if (localRoot !== undefined) {
    const merged = join(localRoot, kept[0]!.disks.get(ref)!.vhd)
    const file = await openLocalFile(merged)
    const summary = await checkVhdFile(file)
    await file.close()
    expect(summary.footer.diskType, context).toBe(DiskType.Dynamic)
    await expectQemuRawEquals(merged, kept[0]!.disks.get(ref)!.content, 24 * MiB, work)
  }
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

describe('merges survive SIGKILL at any point (file remote)', () => {
  let operations: string[]

  it('runs to completion without a kill (and counts the operations)', async () => {
    const root = join(work, 'complete')
    await cp(template, root, { recursive: true })
    const run = await runChild(config(root))
    expect(run.killed).toBe(false)
    operations = run.operations
    expect(run.result!.merges.map((m) => m.child)).toEqual(
      [repo.backups[1]!, repo.backups[2]!].map((b) => b.disks.get(repo.disks[0]!.ref)!.vhd),
    )
    // Every kind of step is in there: the crash points below cover each.
    const kinds = new Set(operations.map((op) => op.split(' ')[0]))
    expect([...kinds].sort()).toEqual(['remove', 'rename', 'save', 'write'])
    expect(operations.filter((op) => op.startsWith('rename') && op.includes(' -> '))).toHaveLength(2)
    await expectClean(await FileBackend.open(root), root, 'uninterrupted')
  }, 120_000)

  it('loses nothing when killed before each of its changes, then run again', async () => {
    // Every operation that is not a block write, and every third block write.
    const points = operations
      .map((op, i) => ({ op, at: i + 1 }))
      .filter(({ op, at }) => !op.startsWith('write') || at % 3 === 0)
    expect(points.length).toBeGreaterThan(30)
    const seen = new Set<string>()
    for (const { op, at } of points) {
      const root = join(work, `kill-${at}`)
      await cp(template, root, { recursive: true })
      const run = await runChild(config(root, at))
      expect(run.killed, `kill before operation ${at} (${op})`).toBe(true)
      const backend = await FileBackend.open(root)
      const result = await recover(backend, { breakLock: true })
      expect(
        result.warnings.filter((w) => w.code !== 'INVALID_MERGE_STATE'),
        `after ${op}`,
      ).toEqual([])
      await expectClean(backend, root, `killed before operation ${at}: ${op}`)
      seen.add(op.split(' ')[0]!)
      await rm(root, { recursive: true, force: true })
    }
    expect([...seen].sort()).toEqual(['remove', 'rename', 'save', 'write'])
  }, 900_000)

  it('loses nothing when the recovery is killed too', async () => {
    const firstKills = [Math.floor(operations.length / 3), Math.floor((2 * operations.length) / 3)]
    for (const first of firstKills) {
      for (const second of [3, 9, 17]) {
        const root = join(work, `double-${first}-${second}`)
        await cp(template, root, { recursive: true })
        expect((await runChild(config(root, first))).killed).toBe(true)
        await sleep(LOCK_RECOVERY_MS)
        const again = await runChild(config(root, second))
        const backend = await FileBackend.open(root)
        if (again.killed) await recover(backend)
        await expectClean(backend, root, `killed before operation ${first}, then before ${second} of the recovery`)
        await rm(root, { recursive: true, force: true })
      }
    }
  }, 600_000)
})

describe('merges survive SIGKILL on a real Samba share', () => {
  let samba: SambaServer
  let backend: SmbBackend
  let operations: string[]

  beforeAll(async () => {
    samba = await startSamba()
    backend = await SmbBackend.connect(samba.location(), samba.password)
  })
  afterAll(async () => {
    await backend?.close()
    await samba?.stop()
  })

  async function freshShare(name: string): Promise<CrashChildConfig> {
    await cp(template, join(samba.shareDir, name), { recursive: true })
    await sh('chown', ['-R', `${samba.username}:`, join(samba.shareDir, name)])
    return { ...config(''), remote: { type: 'smb', location: samba.location(name) } }
  }

  it('completes, then recovers from kills in the block copy, at the renames and at the metadata rewrite', async () => {
    const base = await freshShare('complete')
    const env = { XCP_TEST_SMB_PASSWORD: samba.password }
    const run = await runChild(base, env)
    expect(run.killed).toBe(false)
    operations = run.operations
    const share = await SmbBackend.connect(samba.location('complete'), samba.password)
    await expectClean(share, undefined, 'uninterrupted over SMB')
    await share.close()

    const index = (predicate: (op: string) => boolean, nth = 0) =>
      operations.map((op, i) => ({ op, at: i + 1 })).filter(({ op }) => predicate(op))[nth]!.at
    const points = [
      index((op) => op.startsWith('write'), 4), // in the middle of the first merge's block copy
      index((op) => op.startsWith('rename') && op.includes(' -> ')), // the first rename of parent to child
      index((op) => op.startsWith('remove') && op.includes('.merge.json')), // between that rename and the state removal
      index((op) => op.startsWith('save') && op.endsWith(`${posix.basename(kept[0]!.path)}`)), // metadata rewrite
    ]
    for (const at of points) {
      const cfg = await freshShare(`kill-${at}`)
      expect((await runChild({ ...cfg, killAt: at }, env)).killed, operations[at - 1]).toBe(true)
      const share = await SmbBackend.connect(samba.location(`kill-${at}`), samba.password)
      await recover(share)
      await expectClean(share, undefined, `SMB, killed before ${operations[at - 1]}`)
      await share.close()
    }
  }, 600_000)
})
