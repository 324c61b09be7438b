/**
 * pulumi-xcp-backup: backup policy for XCP-ng and XenServer pools as Pulumi resources. The providers are
 * configured from the stack config (`xcp-backup:pools`, see docs/pulumi.md).
 */
export type { BackupJobOutputs } from '../provider/resources/backup-job'
export type { RemoteOutputs } from '../provider/resources/remote'
export type { OrphanOutput, ReplicationTargetOutputs } from '../provider/resources/replication-target'
export type { ResolvedVm, VmBackupTagsOutputs } from '../provider/resources/vm-backup-tags'
export { BackupJob } from './backup-job'
export type * from './generated/args'
export { Remote } from './remote'
export { ReplicationTarget } from './replication-target'
export { VmBackupTags } from './vm-backup-tags'
