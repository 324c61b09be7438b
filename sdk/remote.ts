import * as pulumi from '@pulumi/pulumi'
import type { RemoteOutputs } from '../provider/resources/remote'
import type { RemoteArgs, RemoteCredentialsArgs } from './generated/args'
import { providerShim } from './provider-shim'

const provider = providerShim('Remote')

/**
 * A backup repository (XO calls it a remote): a directory, NFS export, SMB share or S3 bucket that
 * receives backups in the layout Xen Orchestra reads. Its definition is stored in the pool
 * (`pool.other_config`, key `xcp-backup:remote:<name>`) and its credentials in a XAPI secret; the
 * credentials are a Pulumi secret in the state whether or not they were given as one.
 *
 * Destroying a Remote removes its definition and its secret, never the backups on it.
 */
export class Remote extends pulumi.dynamic.Resource {
  /** The remote's name, which jobs list in `remotes`. */
  declare readonly name: pulumi.Output<string>
  /** Where backups go, in its canonical spelling. */
  declare readonly url: pulumi.Output<string>
  /** Type-specific options. */
  declare readonly options: pulumi.Output<Record<string, string>>
  /** The credentials, as stored in the pool's XAPI secret. Always a Pulumi secret. */
  declare readonly credentials: pulumi.Output<RemoteOutputs['credentials']>
  /** Whether jobs use the remote. */
  declare readonly enabled: pulumi.Output<boolean>
  /** The `pool` argument as given. */
  declare readonly pool: pulumi.Output<string | undefined>
  /** file, nfs, smb or s3. */
  declare readonly type: pulumi.Output<string>
  /** uuid of the XAPI secret holding the credentials, when the remote has any. */
  declare readonly credentialsSecret: pulumi.Output<string | undefined>
  /** The configured pool that stores the remote. */
  declare readonly poolName: pulumi.Output<string>
  /** That pool's uuid. */
  declare readonly poolUuid: pulumi.Output<string>

  constructor(name: string, args: RemoteArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        // Secret in the state even when given in plain text: outputs of the same name follow.
        credentials:
          args.credentials === undefined ? undefined : pulumi.secret<RemoteCredentialsArgs>(args.credentials),
        type: undefined,
        credentialsSecret: undefined,
        poolName: undefined,
        poolUuid: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ['credentials'] }),
      'xcp-backup',
      'Remote',
    )
  }
}
