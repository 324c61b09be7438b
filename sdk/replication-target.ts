import * as pulumi from '@pulumi/pulumi'
import type { ReplicationTargetOutputs } from '../provider/resources/replication-target'
import type { ReplicationTargetArgs } from './generated/args'
import { providerShim } from './provider-shim'

const provider = providerShim('ReplicationTarget')

/**
 * An SR that receives replicas of VMs (continuous replication or disaster recovery). Stored in the pool
 * that holds the SR (`xcp-backup:replication-target:<name>`).
 *
 * Its outputs list the continuous-replication snapshots left on source VMs that no replica continues from
 * (`XO_DELTA_EXPORT: <SR name> (<SR uuid>)` or XO's `xo:backup:sr` marker). Those pointing at this SR are
 * drift: `pulumi preview --refresh` shows them and `pulumi up --refresh` destroys them (the snapshots only,
 * never a VM). Those pointing at an SR no configured pool has are only reported.
 *
 * Destroying a ReplicationTarget removes its definition, never replicas or snapshots.
 */
export class ReplicationTarget extends pulumi.dynamic.Resource {
  /** The target's name, which jobs list in `replicationTargets`. */
  declare readonly name: pulumi.Output<string>
  /** The SR as given (uuid or name). */
  declare readonly sr: pulumi.Output<string>
  /** The `pool` argument as given. */
  declare readonly pool: pulumi.Output<string | undefined>
  /** The SR's uuid. */
  declare readonly srUuid: pulumi.Output<string>
  /** The SR's name. */
  declare readonly srName: pulumi.Output<string>
  /** The SR's type: ext, nfs, lvm, lvmoiscsi, ... */
  declare readonly srType: pulumi.Output<string>
  /** The SR's size in bytes. */
  declare readonly srSize: pulumi.Output<number>
  /** Free space on the SR in bytes. */
  declare readonly srFreeSpace: pulumi.Output<number>
  /** Orphaned replication snapshots pointing at this SR (repaired by `pulumi up --refresh`). */
  declare readonly orphanedSnapshots: pulumi.Output<ReplicationTargetOutputs['orphanedSnapshots']>
  /** Orphaned replication snapshots pointing at SRs no configured pool has (reported, never repaired). */
  declare readonly orphansOfMissingSrs: pulumi.Output<ReplicationTargetOutputs['orphansOfMissingSrs']>
  /** The configured pool that stores the target (the SR's pool). */
  declare readonly poolName: pulumi.Output<string>
  /** That pool's uuid. */
  declare readonly poolUuid: pulumi.Output<string>

  constructor(name: string, args: ReplicationTargetArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        srUuid: undefined,
        srName: undefined,
        srType: undefined,
        srSize: undefined,
        srFreeSpace: undefined,
        orphanedSnapshots: undefined,
        orphansOfMissingSrs: undefined,
        poolName: undefined,
        poolUuid: undefined,
      },
      opts,
      'xcp-backup',
      'ReplicationTarget',
    )
  }
}
