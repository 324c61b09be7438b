/**
 * Remotes: where backups are stored, in Xen Orchestra's format (docs/remote-format.md).
 *
 *   openRemote(location, options)      a backend for file://, smb:// or nfs://, with retries and logging
 *   backend.save / open / read / …     the storage interface (backend.ts)
 *   acquireLock(backend, vmBackupDir)  the VM lock shared with XO (lock.ts)
 *   layout/*                           XO's tree, metadata, cache, listing and deletion
 */
export type {
  BackendCapabilities,
  ByteRange,
  DataSource,
  EntryKind,
  FreeSpace,
  RemoteBackend,
  RemoteEntry,
  RemoteStat,
  SaveOptions,
  SaveResult,
  Validator,
} from './backend'
export { isRemoteError, RemoteError, type RemoteErrorCode } from './errors'
export { checkFreeSpace } from './free-space'
export {
  DEFAULT_RETRY_POLICY,
  type RemoteLogger,
  type RemoteOperationEvent,
  type RetryPolicy,
  withLogging,
  withRetries,
} from './instrumented'
export { saveDeltaDisk, saveFullBackupData } from './layout/backup-data'
export { readVmBackupCache } from './layout/cache'
export {
  type MergeState,
  mergeStateSchema,
  readMergeState,
  removeMergeState,
  writeMergeState,
} from './layout/merge-state'
export {
  type BackupMetadata,
  backupMetadataSchema,
  type DeltaBackupMetadata,
  deltaBackupMetadataSchema,
  type FullBackupMetadata,
  fullBackupMetadataSchema,
  MetadataError,
  type NewBackupMetadata,
  type NewDeltaBackupMetadata,
  type NewFullBackupMetadata,
  newDeltaBackupMetadataSchema,
  newFullBackupMetadataSchema,
} from './layout/metadata'
export * as paths from './layout/paths'
export { assertWritableRepository, removeStaleTemporaryFiles } from './layout/repository'
export { formatBackupDateTime, formatFilenameDate, parseBackupDateTime, parseFilenameDate } from './layout/timestamps'
export {
  commitVmBackup,
  deleteVmBackups,
  listAllVms,
  listVmBackups,
  replaceVmBackupMetadata,
  type VmBackup,
  type VmBackupListing,
} from './layout/vm-backups'
export {
  acquireLock,
  DEFAULT_STALE_MS,
  inspectLock,
  type Lock,
  type LockOptions,
  type LockOwner,
  type LockState,
} from './lock'
export { type OpenRemoteOptions, openRemote } from './open-remote'
export { exists, readSmallFile, saveSmallFile } from './small-files'
