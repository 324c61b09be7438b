import * as pulumi from '@pulumi/pulumi'
import type { BackupJobOutputs } from '../provider/resources/backup-job'
import type { BackupJobArgs } from './generated/args'
import { providerShim } from './provider-shim'

const provider = providerShim('BackupJob')

/**
 * A backup job: which VMs, where their backups and replicas go, when it runs and how much it keeps.
 * Stored in the pool (`xcp-backup:backup-job:<name>`), where the runner reads it. `pulumi preview` checks
 * that the VMs and SRs it names exist and warns about failures it can predict: nothing selected, a thick
 * SR too full to snapshot the VMs, VHD chains near their limit, runs closer together than a run lasts.
 *
 * Destroying a BackupJob removes its definition and status record, never its backups or snapshots.
 */
export class BackupJob extends pulumi.dynamic.Resource {
  /** The job's name. */
  declare readonly name: pulumi.Output<string>
  /** The `pool` argument as given. */
  declare readonly pool: pulumi.Output<string | undefined>
  /** full or delta. */
  declare readonly mode: pulumi.Output<BackupJobOutputs['mode']>
  /** The VM selection, defaults filled in. */
  declare readonly vms: pulumi.Output<BackupJobOutputs['vms']>
  /** Names of the remotes that receive backups. */
  declare readonly remotes: pulumi.Output<string[]>
  /** Names of the replication targets that receive replicas. */
  declare readonly replicationTargets: pulumi.Output<string[]>
  /** Compression of full exports. */
  declare readonly compression: pulumi.Output<BackupJobOutputs['compression']>
  /** The schedules, sorted by name, defaults filled in. */
  declare readonly schedules: pulumi.Output<BackupJobOutputs['schedules']>
  /** The settings, defaults filled in. */
  declare readonly settings: pulumi.Output<BackupJobOutputs['settings']>
  /** The job's id in the pool: its status record and the markers on its snapshots use it. */
  declare readonly jobId: pulumi.Output<string>
  /** The VMs the selection matches, as of the last apply or refresh. */
  declare readonly selectedVms: pulumi.Output<BackupJobOutputs['selectedVms']>
  /** The next times each schedule fires (ISO 8601, UTC), as of the last apply or refresh. */
  declare readonly nextRuns: pulumi.Output<BackupJobOutputs['nextRuns']>
  /** The last run as the runner recorded it in the pool (runId, start, end, status, ...); absent before the first. */
  declare readonly lastRun: pulumi.Output<BackupJobOutputs['lastRun']>
  /** The preflight warnings as of the last apply or refresh. */
  declare readonly warnings: pulumi.Output<string[]>
  /** The configured pool that stores the job. */
  declare readonly poolName: pulumi.Output<string>
  /** That pool's uuid. */
  declare readonly poolUuid: pulumi.Output<string>

  constructor(name: string, args: BackupJobArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        jobId: undefined,
        selectedVms: undefined,
        nextRuns: undefined,
        lastRun: undefined,
        warnings: undefined,
        poolName: undefined,
        poolUuid: undefined,
      },
      opts,
      'xcp-backup',
      'BackupJob',
    )
  }
}
