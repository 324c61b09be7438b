import { getOldEntries, type LongTermRetentionCounts, longTermTags, RetentionError } from '../../policy/retention'
import type { RemoteBackend } from '../backend'
import { deleteVmBackups, listVmBackups, type VmBackup, type VmBackupListing } from '../layout/vm-backups'
import type { Lock } from '../lock'

/**
 * Remote retention with Xen Orchestra's rules (xo-backup-engine.md §1.7, §2.7, §5.7): per VM, per
 * schedule, per remote, full and delta backups counted apart; the newest `retention` kept plus the
 * long-term representatives; old backups deleted newest to oldest (a delta's JSON only: its VHDs
 * become orphans that clean-vm merges or deletes).
 */

export type BackupMode = 'full' | 'delta'

/** Which backups one retention window covers. */
export interface RetentionScope {
  vmUuid: string
  scheduleId: string
  mode: BackupMode
}

export interface RetentionSettings {
  /** The schedule's exportRetention: how many backups of this scope stay on this remote. At least 1. */
  retention: number
  longTermRetention?: LongTermRetentionCounts
  /** IANA time zone the long-term periods are read in; needed when a long-term count is set. */
  timezone?: string
  /** Delta mode: delete (and so merge) at most this many old backups per run, the oldest first (XO's maxMergedDeltasPerRun). */
  maxMergedDeltasPerRun?: number
}

/**
 * When the plan is made, which decides XO's call shape:
 * - `before-transfer`: over the existing backups, keeping `retention - 1` so that `retention` remain
 *   once the new one is written. XO computes this before every transfer; the writer deletes the
 *   result before the transfer when `deleteFirst` is set, after committing the new backup otherwise.
 * - `after-transfer`: over the backups including the one just committed, keeping `retention`.
 */
export type RetentionStage = 'before-transfer' | 'after-transfer'

export interface RetentionPlan {
  scope: RetentionScope
  stage: RetentionStage
  /** The backups of this scope that were considered, oldest first (complete or not, as XO counts them). */
  backups: VmBackup[]
  /** The backups to delete now, oldest first. */
  old: VmBackup[]
  /** Backups retention drops but left for a later run by maxMergedDeltasPerRun, oldest first. */
  deferred: VmBackup[]
}

export interface RetentionResult {
  /** Metadata files deleted, in the order they were deleted (newest first). */
  deleted: string[]
  /** Data files deleted with them (full backups: XVA and checksum; deltas leave their VHDs to clean-vm). */
  deletedData: string[]
}

/** The backups of one scope in a listing, oldest first. */
export function backupsInScope(listing: VmBackupListing, scope: RetentionScope): VmBackup[] {
  return listing.backups.filter(
    (backup) =>
      backup.metadata.vm.uuid === scope.vmUuid &&
      backup.metadata.mode === scope.mode &&
      backup.metadata.scheduleId === scope.scheduleId,
  )
}

/** Computes which backups of the scope retention drops (nothing is deleted yet). */
export async function planRetention(
  backend: RemoteBackend,
  scope: RetentionScope,
  settings: RetentionSettings,
  stage: RetentionStage,
  options: { listing?: VmBackupListing } = {},
): Promise<RetentionPlan> {
  assertRetention(settings)
  const listing = options.listing ?? (await listVmBackups(backend, scope.vmUuid))
  const backups = backupsInScope(listing, scope)
  const keep = stage === 'before-transfer' ? settings.retention - 1 : settings.retention
  const dropped = getOldEntries(
    keep,
    backups.map((backup) => ({ timestamp: backup.metadata.timestamp, backup })),
    { longTermRetention: settings.longTermRetention, timezone: settings.timezone },
  ).map((entry) => entry.backup)
  const cap = scope.mode === 'delta' ? (settings.maxMergedDeltasPerRun ?? Infinity) : Infinity
  return { scope, stage, backups, old: dropped.slice(0, cap), deferred: dropped.slice(cap) }
}

/**
 * Deletes the plan's old backups, newest to oldest, checking before each that the VM lock is still
 * held (a lost lock stops the deletions; what was deleted stays deleted, the rest stays).
 */
export async function applyRetention(
  backend: RemoteBackend,
  plan: RetentionPlan,
  options: { lock: Lock },
): Promise<RetentionResult> {
  const result: RetentionResult = { deleted: [], deletedData: [] }
  const newestFirst = [...plan.old].sort((a, b) => b.metadata.timestamp - a.metadata.timestamp)
  for (const backup of newestFirst) {
    options.lock.assertHeld()
    await deleteVmBackups(backend, [backup])
    result.deleted.push(backup.path)
    if (backup.metadata.mode === 'full') result.deletedData.push(...backup.dataFiles)
  }
  return result
}

/**
 * The long-term retention tags of a new backup (its metadata's `tags`): the periods it represents
 * among the backups of its scope, itself included. XO keeps the oldest backup of each period, so a
 * new backup carries a period's tag only when it is the first of that period.
 */
export function newBackupTags(
  scopeBackups: readonly VmBackup[],
  timestamp: number,
  settings: Pick<RetentionSettings, 'longTermRetention' | 'timezone'>,
): string[] {
  const entries = scopeBackups.map((backup) => ({ timestamp: backup.metadata.timestamp }))
  if (entries.some((entry) => entry.timestamp === timestamp)) {
    throw new RetentionError(
      `a backup of this VM and schedule already has the timestamp ${new Date(timestamp).toISOString()}: the new backup needs its own`,
    )
  }
  const entry = { timestamp }
  const all = [...entries, entry].sort((a, b) => a.timestamp - b.timestamp)
  return longTermTags(all, entry, { longTermRetention: settings.longTermRetention, timezone: settings.timezone })
}

/** Backups of schedules no policy knows any more, grouped: retention never prunes them (XO neither). */
export interface UnmanagedBackups {
  jobId: string
  scheduleId: string
  mode: BackupMode
  backups: VmBackup[]
}

/**
 * Groups the backups of a listing whose schedule is not in `knownScheduleIds` (a schedule that was
 * deleted or renamed), so that drift detection can say they will stay until deleted by hand.
 */
export function findUnmanagedBackups(
  listing: VmBackupListing,
  knownScheduleIds: ReadonlySet<string>,
): UnmanagedBackups[] {
  const groups = new Map<string, UnmanagedBackups>()
  for (const backup of listing.backups) {
    const { jobId, scheduleId, mode } = backup.metadata
    if (knownScheduleIds.has(scheduleId)) continue
    const key = `${jobId}\0${scheduleId}\0${mode}`
    let group = groups.get(key)
    if (group === undefined) {
      group = { jobId, scheduleId, mode, backups: [] }
      groups.set(key, group)
    }
    group.backups.push(backup)
  }
  return [...groups.values()]
}

function assertRetention(settings: RetentionSettings): void {
  if (!Number.isInteger(settings.retention) || settings.retention < 1) {
    throw new RetentionError(
      `retention must be a whole number of at least 1 (the schedule's exportRetention), got ${settings.retention}: a schedule with exportRetention 0 writes nothing to remotes`,
    )
  }
  const cap = settings.maxMergedDeltasPerRun
  if (cap !== undefined && cap !== Number.POSITIVE_INFINITY && (!Number.isInteger(cap) || cap < 0)) {
    throw new RetentionError(`maxMergedDeltasPerRun must be a whole number from 0, got ${cap}`)
  }
}
