import * as pulumi from '@pulumi/pulumi'
import type { VmBackupTagsOutputs } from '../provider/resources/vm-backup-tags'
import type { VmBackupTagsArgs } from './generated/args'
import { providerShim } from './provider-shim'

const provider = providerShim('VmBackupTags')

/**
 * Tags that VMs hold while the resource exists: modifier tags (`xo-memory-backup`, `xo-offline-backup`),
 * `xo:no-bak`, or tags smart selections match. Only the tags it manages are ever added or removed; other
 * tags on the VMs are left alone, and a tag another VmBackupTags also manages on a VM stays when this one
 * is destroyed. The claim (VM uuids and tags) is stored in the pool (`xcp-backup:vm-backup-tags:<id>`).
 */
export class VmBackupTags extends pulumi.dynamic.Resource {
  /** The VMs as given that still exist. */
  declare readonly vms: pulumi.Output<string[]>
  /** The managed tags that every one of the VMs carries now (a tag removed by hand disappears: drift). */
  declare readonly tags: pulumi.Output<string[]>
  /** The `pool` argument as given. */
  declare readonly pool: pulumi.Output<string | undefined>
  /** Each VM as written, with the uuid and name it resolved to. */
  declare readonly resolvedVms: pulumi.Output<VmBackupTagsOutputs['resolvedVms']>
  /** The configured pool the VMs are in. */
  declare readonly poolName: pulumi.Output<string>
  /** That pool's uuid. */
  declare readonly poolUuid: pulumi.Output<string>

  constructor(name: string, args: VmBackupTagsArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, resolvedVms: undefined, poolName: undefined, poolUuid: undefined },
      opts,
      'xcp-backup',
      'VmBackupTags',
    )
  }
}
