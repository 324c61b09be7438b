/**
 * VM tags that change how backups treat a VM, as Xen Orchestra defines them (reference/004 "Backup
 * modifier tags", xo-backup-engine.md §2.9).
 */

/** Snapshot with RAM (`VM.checkpoint`), as if the job had checkpointSnapshot; restores resume the VM. */
export const MEMORY_BACKUP_TAG = 'xo-memory-backup'

/** Clean shutdown, snapshot, start again right away, as if the job had offlineSnapshot. */
export const OFFLINE_BACKUP_TAG = 'xo-offline-backup'

/** Never backed up by any job, even when listed explicitly; `xo:no-bak=<reason>` records why. */
export const NO_BACKUP_TAG = 'xo:no-bak'

/** Tags that XO's UI excludes from smart selections by default: replicas that other jobs made. */
export const DEFAULT_EXCLUDED_TAGS: readonly string[] = ['Continuous Replication', 'Disaster Recovery']

export function isNoBackupTag(tag: string): boolean {
  return tag === NO_BACKUP_TAG || tag.startsWith(`${NO_BACKUP_TAG}=`)
}
