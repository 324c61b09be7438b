/**
 * What clean-vm did, and what it would not do and why: a plain JSON-safe object the run log records
 * as it is. Paths are remote paths.
 */

export type CleanVmWarningCode =
  /** A metadata file that is not JSON: nothing it may reference can be told apart, so no data file of the VM is deleted or merged. */
  | 'UNREADABLE_METADATA'
  /** A JSON metadata file that is not a valid backup: the data files it names are kept. */
  | 'INVALID_METADATA'
  /** A backup whose data files are missing or broken (removed when `remove` is set). */
  | 'INCOMPLETE_BACKUP'
  /** A VHD that is not a valid VHD, or whose chain is broken. */
  | 'BROKEN_VHD'
  /** Two VHDs of one disk carry the same uuid. */
  | 'DUPLICATE_VHD_UUID'
  /** A VHD is the parent of several VHDs that backups still use: it is kept and not merged. */
  | 'MULTIPLE_CHILDREN'
  /** An interrupted merge that cannot be completed: its files are kept as they are. */
  | 'MERGE_NOT_RESUMABLE'
  /** A merge state file that cannot be read: the merge restarts from its first block. */
  | 'INVALID_MERGE_STATE'
  /** A merge failed; the disks are left as they were at its last durable step. */
  | 'MERGE_FAILED'
  /** XO's VHD-directory mode (`.alias.vhd`, `data/`): left to XO. */
  | 'UNSUPPORTED_VHD_DIRECTORY'
  /** A file clean-vm does not know: left in place. */
  | 'UNKNOWN_FILE'
  /** A full backup's XVA is present but fails the check: reported, never deleted. */
  | 'INVALID_XVA'

export interface CleanVmWarning {
  code: CleanVmWarningCode
  message: string
  paths: string[]
}

export interface RemovedFile {
  path: string
  reason: string
}

export interface MergeReport {
  /** The VDI directory (`vdis/<job>/<vdi>` of the VM directory). */
  dir: string
  /** The older VHD, which received the child's blocks and then took its name. */
  parent: string
  /** The child merged into it; its path now holds the merged disk. */
  child: string
  /** Resumed from a state file left by an interrupted run (ours or XO's). */
  resumed: boolean
  /** First child block of this run (0 unless resumed). */
  fromBlock: number
  /** Child blocks merged in this run, and their bytes. */
  mergedBlocks: number
  mergedBytes: number
  /** Blocks allocated in the child. */
  totalBlocks: number
  /** Size of the merged file. */
  finalSize: number
  durationMs: number
  /** Metadata files rewritten afterwards (size, isVhdDifferencing). */
  metadataUpdated: string[]
}

export interface PendingAction {
  action: 'remove' | 'merge'
  paths: string[]
  reason: string
}

export interface CleanVmResult {
  vmUuid: string
  /** Metadata files deleted (incomplete backups). */
  removedBackups: RemovedFile[]
  /** Data, temporary and state files deleted. */
  removedFiles: RemovedFile[]
  merges: MergeReport[]
  /** Metadata files rewritten to match their disks (after merges, or after a crash between a merge and its rewrite). */
  updatedMetadata: string[]
  /** What would have been done with `remove` or `merge` set. */
  pending: PendingAction[]
  warnings: CleanVmWarning[]
  /** Whether cache.json.gz was rewritten. */
  cacheRegenerated: boolean
}

export function emptyResult(vmUuid: string): CleanVmResult {
  return {
    vmUuid,
    removedBackups: [],
    removedFiles: [],
    merges: [],
    updatedMetadata: [],
    pending: [],
    warnings: [],
    cacheRegenerated: false,
  }
}
