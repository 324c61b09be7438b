/**
 * Compile-time proof that the generated SDK argument types and the zod schemas describe the same values:
 * once pulumi.Input wrappers are unwrapped, every schema input is an Args value and every Args value is a
 * schema input. `tsc` checks this file (it is part of the project) and sdk-types.test.ts compiles it on
 * its own, so drift fails the test suite too.
 */
import type * as pulumi from '@pulumi/pulumi'
import type { z } from 'zod'
import type {
  backupJobSchema,
  remoteSchema,
  replicationTargetSchema,
  scheduleSchema,
  settingsSchema,
  vmBackupTagsSchema,
  vmSelectionSchema,
} from '../../provider/policy'
import type {
  BackupJobArgs,
  BackupJobSettingsArgs,
  BackupScheduleArgs,
  ExplicitVmSelectionArgs,
  RemoteArgs,
  ReplicationTargetArgs,
  SmartVmSelectionArgs,
  VmBackupTagsArgs,
} from '../../sdk/generated/args'

type Assert<T extends true> = T
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

export type Checks = [
  Assert<Same<pulumi.Unwrap<RemoteArgs>, z.input<typeof remoteSchema>>>,
  Assert<Same<pulumi.Unwrap<BackupJobArgs>, z.input<typeof backupJobSchema>>>,
  Assert<Same<pulumi.Unwrap<ReplicationTargetArgs>, z.input<typeof replicationTargetSchema>>>,
  Assert<Same<pulumi.Unwrap<VmBackupTagsArgs>, z.input<typeof vmBackupTagsSchema>>>,
  Assert<Same<pulumi.Unwrap<BackupScheduleArgs>, z.input<typeof scheduleSchema>>>,
  Assert<Same<pulumi.Unwrap<BackupJobSettingsArgs>, z.input<typeof settingsSchema>>>,
  Assert<Same<pulumi.Unwrap<ExplicitVmSelectionArgs | SmartVmSelectionArgs>, z.input<typeof vmSelectionSchema>>>,
]

// The checks above can fail: a value the schema refuses is not an Args value either.
// @ts-expect-error mode is "full" or "delta"
export const wrongMode: pulumi.Unwrap<BackupJobArgs>['mode'] = 'incremental'

export const typo: pulumi.Unwrap<BackupScheduleArgs> = {
  name: 'nightly',
  cron: '0 3 * * *',
  // @ts-expect-error exportRetenion is not a schedule field
  exportRetenion: 7,
}

// Args accept outputs at every level: a remote name that comes from another resource.
export function jobFromOutputs(remoteName: pulumi.Output<string>, tag: pulumi.Input<string>): BackupJobArgs {
  return {
    name: 'nightly',
    mode: 'delta',
    vms: { select: 'smart', tags: [tag] },
    remotes: [remoteName],
    schedules: [{ name: 'nightly', cron: '0 3 * * *', exportRetention: remoteName.apply(() => 7) }],
  }
}
