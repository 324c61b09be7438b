/**
 * What happens on a remote after a backup is written (docs/remote-format.md §7, §9, §11):
 *
 *   planRetention / applyRetention / newBackupTags   XO's retention per VM × schedule × mode
 *   findUnmanagedBackups                             backups of schedules no policy knows (never pruned)
 *   cleanVm                                          XO's cleanVm: incomplete backups, orphans, merges
 *   mergeDisk                                        one crash-safe, resumable VHD merge on the remote
 */
export { type CleanVmOptions, cleanVm } from './clean-vm'
export { DEFAULT_STATE_INTERVAL_MS, type DiskMergeOptions, type DiskMergeOutcome, mergeDisk } from './merge-disk'
export type {
  CleanVmResult,
  CleanVmWarning,
  CleanVmWarningCode,
  MergeReport,
  PendingAction,
  RemovedFile,
} from './report'
export {
  applyRetention,
  type BackupMode,
  backupsInScope,
  findUnmanagedBackups,
  newBackupTags,
  planRetention,
  type RetentionPlan,
  type RetentionResult,
  type RetentionScope,
  type RetentionSettings,
  type RetentionStage,
  type UnmanagedBackups,
} from './retention'
