/**
 * Reading backups back for a restore (docs/remote-format.md §10):
 *
 *   openBackup(backend, metadataPath)   a full backup's XVA, or a delta backup's disks and XAPI records
 *   readOnlyBackend(backend)            a backend that refuses every write
 *   checkedXvaStream(stream, ...)       XVA bytes checked as they pass
 *   listRemote(backend)                 every VM and backup on a remote (xcp-backup ls)
 */

export { type BackupListing, type DiskListing, listRemote, type RemoteListing, type VmListing } from './list-remote'
export {
  type BackupReader,
  type DeltaBackupReader,
  type DeltaDisk,
  type DiskImage,
  type FullBackupReader,
  openBackup,
  type RestoreRecords,
} from './open-backup'
export { readOnlyBackend } from './read-only'
export { checkedXvaStream } from './xva-stream'
