import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RetentionError } from '../../../provider/policy/retention'
import type { RemoteBackend } from '../../../provider/remote/backend'
import { FileBackend } from '../../../provider/remote/file/file-backend'
import { withLogging } from '../../../provider/remote/instrumented'
import { listVmBackups } from '../../../provider/remote/layout/vm-backups'
import { acquireLock, type Lock } from '../../../provider/remote/lock'
import {
  applyRetention,
  type BackupMode,
  cleanVm,
  findUnmanagedBackups,
  newBackupTags,
  planRetention,
  type RetentionSettings,
} from '../../../provider/remote/maintenance'
import { backupsInScope } from '../../../provider/remote/maintenance/retention'
import { type BuiltBackup, DAY, expectBackupRestores, HOUR, Repository, randomBlocks, T0 } from './fixtures'

let root: string
let backend: RemoteBackend
let lock: Lock | undefined
let removals: string[]

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'xcp-retention-'))
  removals = []
  backend = withLogging(await FileBackend.open(root), (event) => {
    if (event.operation === 'remove' && event.path?.endsWith('.json') && event.error === undefined)
      removals.push(event.path)
  })
})
afterEach(async () => {
  await lock?.release()
  lock = undefined
  await rm(root, { recursive: true, force: true })
})

interface Run {
  repo: Repository
  scheduleId: string
  mode: BackupMode
  settings: RetentionSettings
  timestamp: number
  deleteFirst?: boolean
  /** Blocks changed by a delta. */
  blocks?: number[]
}

/**
 * One backup of one VM to one remote as the writer does it, XO's way: old entries computed before the
 * transfer (retention - 1), deleted before it with deleteFirst or after the commit otherwise, tags
 * of the new backup from its schedule's backups; then clean-vm.
 */
async function backupRun(run: Run): Promise<BuiltBackup> {
  const { repo, scheduleId, mode, settings, timestamp } = run
  lock ??= await acquireLock(backend, repo.dir)
  const scope = { vmUuid: repo.vmUuid, scheduleId, mode }
  const plan = await planRetention(backend, scope, settings, 'before-transfer')
  if (run.deleteFirst) await applyRetention(backend, plan, { lock })
  const tags = newBackupTags(plan.backups, timestamp, settings)
  const backup =
    mode === 'full'
      ? await repo.xva(timestamp, { scheduleId, tags, diskBytes: 64 * 1024 })
      : repo.backups.some((b) => b.mode === 'delta')
        ? await repo.delta(timestamp, run.blocks ?? randomBlocks(2, 16), { scheduleId, tags })
        : await repo.full(timestamp, randomBlocks(6, 16), { scheduleId, tags })
  if (!run.deleteFirst) await applyRetention(backend, plan, { lock })
  await cleanVm(backend, repo.vmUuid, { merge: true, remove: true, lock })
  return backup
}

async function scopeCount(repo: Repository, scheduleId: string, mode: BackupMode): Promise<number> {
  const listing = await listVmBackups(backend, repo.vmUuid)
  return backupsInScope(listing, { vmUuid: repo.vmUuid, scheduleId, mode }).length
}

describe('retention per VM, schedule and mode', () => {
  it('keeps each schedule’s full and delta backups apart, and the shared delta chain restores at every kept point', async () => {
    const repo = new Repository(backend)
    const nightly = repo.scheduleId
    const hourly = randomUUID()
    for (let day = 0; day < 6; day++) {
      const at = T0 + day * DAY
      await backupRun({ repo, scheduleId: nightly, mode: 'delta', settings: { retention: 3 }, timestamp: at })
      await backupRun({ repo, scheduleId: nightly, mode: 'full', settings: { retention: 2 }, timestamp: at + HOUR })
      await backupRun({ repo, scheduleId: hourly, mode: 'delta', settings: { retention: 2 }, timestamp: at + 2 * HOUR })
      await backupRun({ repo, scheduleId: hourly, mode: 'delta', settings: { retention: 2 }, timestamp: at + 3 * HOUR })
      expect(await scopeCount(repo, nightly, 'delta')).toBe(Math.min(3, day + 1))
      expect(await scopeCount(repo, nightly, 'full')).toBe(Math.min(2, day + 1))
      expect(await scopeCount(repo, hourly, 'delta')).toBe(2)
    }
    const listing = await listVmBackups(backend, repo.vmUuid)
    expect(listing.backups.every((b) => b.status === 'complete')).toBe(true)
    const kept = new Set(listing.backups.map((b) => b.path))
    const deltas = repo.backups.filter((b) => b.mode === 'delta' && kept.has(b.path))
    expect(deltas).toHaveLength(5)
    // The two schedules' deltas share one chain per disk: what one schedule's retention drops is
    // merged into what the other still uses, never deleted from under it.
    for (const backup of deltas) await expectBackupRestores(backend, backup)
    for (const backup of repo.backups.filter((b) => b.mode === 'full' && kept.has(b.path))) {
      expect((await readFile(join(root, backup.path.replace(/\.json$/, '.xva')))).equals(backup.xva!)).toBe(true)
    }
  })

  it('deletes old backups newest first, the whole full backup and only the metadata of a delta', async () => {
    const repo = new Repository(backend)
    const fulls: BuiltBackup[] = []
    for (let i = 0; i < 4; i++) fulls.push(await repo.xva(T0 + i * DAY, { diskBytes: 64 * 1024 }))
    lock = await acquireLock(backend, repo.dir)
    const plan = await planRetention(
      backend,
      { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'full' },
      { retention: 1 },
      'after-transfer',
    )
    const result = await applyRetention(backend, plan, { lock })
    expect(result.deleted).toEqual([fulls[2]!.path, fulls[1]!.path, fulls[0]!.path])
    expect(removals).toEqual(result.deleted)
    expect(result.deletedData).toEqual(
      [2, 1, 0].flatMap((i) => {
        const xva = fulls[i]!.path.replace(/\.json$/, '.xva')
        return [xva, `${xva}.checksum`]
      }),
    )

    await repo.full(T0 + 10 * DAY, [0, 1])
    await repo.delta(T0 + 11 * DAY, [1])
    await repo.delta(T0 + 12 * DAY, [2])
    removals.length = 0
    const deltaPlan = await planRetention(
      backend,
      { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'delta' },
      { retention: 1 },
      'after-transfer',
    )
    const deltaResult = await applyRetention(backend, deltaPlan, { lock })
    expect(deltaResult.deletedData).toEqual([])
    expect(removals).toEqual([repo.backups[5]!.path, repo.backups[4]!.path])
  })

  it('offers both XO call shapes: before the transfer (retention - 1, deleteFirst or not) and after it (retention)', async () => {
    const repo = new Repository(backend)
    const scope = { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'full' as const }
    for (let i = 0; i < 3; i++) await repo.xva(T0 + i * DAY, { diskBytes: 64 * 1024 })
    const before = await planRetention(backend, scope, { retention: 3 }, 'before-transfer')
    expect(before.old.map((b) => b.metadata.timestamp)).toEqual([T0])
    const after = await planRetention(backend, scope, { retention: 3 }, 'after-transfer')
    expect(after.old).toEqual([])

    // deleteFirst: while the new backup is transferred, only retention - 1 are on the remote.
    const deleteFirst = await backupRun({
      repo,
      scheduleId: repo.scheduleId,
      mode: 'full',
      settings: { retention: 3 },
      timestamp: T0 + 3 * DAY,
      deleteFirst: true,
    })
    expect(await scopeCount(repo, repo.scheduleId, 'full')).toBe(3)
    const listing = await listVmBackups(backend, repo.vmUuid)
    expect(listing.backups.map((b) => b.metadata.timestamp)).toEqual([T0 + DAY, T0 + 2 * DAY, deleteFirst.timestamp])
  })

  it('caps the deltas deleted per run (maxMergedDeltasPerRun), the oldest first, the rest deferred', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, [0, 1, 2])
    for (let i = 1; i < 6; i++) await repo.delta(T0 + i * DAY, [i])
    const plan = await planRetention(
      backend,
      { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'delta' },
      { retention: 2, maxMergedDeltasPerRun: 2 },
      'after-transfer',
    )
    expect(plan.old.map((b) => b.metadata.timestamp)).toEqual([T0, T0 + DAY])
    expect(plan.deferred.map((b) => b.metadata.timestamp)).toEqual([T0 + 2 * DAY, T0 + 3 * DAY])
  })

  it('never prunes the backups of a schedule that no longer exists, and lists them for drift', async () => {
    const repo = new Repository(backend)
    const removed = randomUUID()
    for (let i = 0; i < 3; i++) await repo.xva(T0 + i * DAY, { scheduleId: removed, diskBytes: 64 * 1024 })
    for (let i = 0; i < 3; i++) await repo.xva(T0 + i * DAY + HOUR, { diskBytes: 64 * 1024 })
    const plan = await planRetention(
      backend,
      { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'full' },
      { retention: 1 },
      'after-transfer',
    )
    expect(plan.old).toHaveLength(2)
    expect(plan.old.every((b) => b.metadata.scheduleId === repo.scheduleId)).toBe(true)
    const unmanaged = findUnmanagedBackups(await listVmBackups(backend, repo.vmUuid), new Set([repo.scheduleId]))
    expect(unmanaged).toHaveLength(1)
    expect(unmanaged[0]).toMatchObject({ jobId: repo.jobId, scheduleId: removed, mode: 'full' })
    expect(unmanaged[0]!.backups.map((b) => b.metadata.timestamp)).toEqual([T0, T0 + DAY, T0 + 2 * DAY])
  })

  it('refuses a retention of 0 and a bad cap, saying why', async () => {
    const scope = { vmUuid: randomUUID(), scheduleId: randomUUID(), mode: 'full' as const }
    await expect(planRetention(backend, scope, { retention: 0 }, 'before-transfer')).rejects.toThrow(
      /at least 1 .*exportRetention 0 writes nothing/,
    )
    await expect(
      planRetention(backend, scope, { retention: 1, maxMergedDeltasPerRun: -1 }, 'before-transfer'),
    ).rejects.toThrow(RetentionError)
  })
})

describe('long-term retention on a remote', () => {
  it('keeps the oldest backup of each local day and week, writes their tags, and reads days in the schedule’s time zone', async () => {
    const repo = new Repository(backend)
    const settings: RetentionSettings = {
      retention: 2,
      longTermRetention: { daily: 3, weekly: 2 },
      timezone: 'Europe/Paris',
    }
    const written: BuiltBackup[] = []
    // Two backups a day: 10:00Z (12:00 in Paris) and 23:00Z (01:00 the next day in Paris).
    for (let day = 0; day < 12; day++) {
      for (const hour of [10, 23]) {
        written.push(
          await backupRun({
            repo,
            scheduleId: repo.scheduleId,
            mode: 'full',
            settings,
            timestamp: T0 - 3 * HOUR + day * DAY + hour * HOUR,
          }),
        )
      }
    }
    const listing = await listVmBackups(backend, repo.vmUuid)
    const kept = listing.backups.map((b) => new Date(b.metadata.timestamp).toISOString())
    // In Paris, 10:00Z is 12:00 the same day and 23:00Z is 01:00 the next day, so each Paris day's
    // oldest backup is the previous UTC day's 23:00Z one. XO plans before the transfer, over the
    // backups already there: keep the newest 1 (retention - 1), the oldest of each of the 3 newest
    // days and of the 2 newest weeks (Sunday to Saturday), then add the new backup.
    expect(kept).toEqual([
      '2024-05-04T23:00:00.000Z', // Paris Sun 5 May 01:00: oldest of the week 5–11 May
      '2024-05-09T23:00:00.000Z', // Paris 10 May 01:00: oldest of 10 May
      '2024-05-10T23:00:00.000Z', // Paris 11 May 01:00: oldest of 11 May
      '2024-05-11T23:00:00.000Z', // Paris Sun 12 May 01:00: oldest of 12 May and of the week from 12 May
      '2024-05-12T10:00:00.000Z', // the newest before the last run
      '2024-05-12T23:00:00.000Z', // the last run's (Paris 13 May 01:00)
    ])
    // Each backup's tags were computed when it was written: the periods it was the first of.
    const tagsOf = async (iso: string) => {
      const backup = written.find((b) => new Date(b.timestamp).toISOString() === iso)!
      return JSON.parse(await readFile(join(root, backup.path), 'utf8')).tags
    }
    expect(await tagsOf('2024-05-11T23:00:00.000Z')).toEqual(['daily=2024-05-12', 'weekly=2024-20'])
    expect(await tagsOf('2024-05-12T10:00:00.000Z')).toEqual([])
    expect(await tagsOf('2024-05-12T23:00:00.000Z')).toEqual(['daily=2024-05-13'])
  })

  it('needs a time zone for long-term periods', () => {
    expect(() => newBackupTags([], T0, { longTermRetention: { daily: 1 } })).toThrow(/time zone/)
  })
})
