import { formatRemoteUrl, type RemoteLocation } from '../policy/remote-url'
import type { RemoteBackend } from './backend'
import { RemoteError } from './errors'
import { FileBackend } from './file/file-backend'
import { DEFAULT_RETRY_POLICY, type RemoteLogger, type RetryPolicy, withLogging, withRetries } from './instrumented'
import { openNfsBackend } from './nfs/nfs-backend'
import { SmbBackend } from './smb/smb-backend'

export interface OpenRemoteOptions {
  /** How messages and logs name the remote (its name in the policy); defaults to its URL. */
  name?: string
  /** SMB password, from the remote's XAPI secret. Never logged, never part of an error. */
  password?: string
  /** NFS: where to mount exports, and the id naming this remote's mount point. */
  nfs?: { mountsDir: string; remoteId: string; options?: string[] }
  /** Every operation with its duration and outcome. */
  log?: RemoteLogger
  /** Retries of transient errors; false to disable. */
  retry?: RetryPolicy | false
}

/** Opens the backend of a remote location, with retries and logging wrapped around it once. */
export async function openRemote(location: RemoteLocation, options: OpenRemoteOptions = {}): Promise<RemoteBackend> {
  const name = options.name ?? formatRemoteUrl(location)
  let backend = await openBackend(location, name, options)
  if (options.retry !== false) {
    backend = withRetries(backend, {
      ...(options.retry ?? DEFAULT_RETRY_POLICY),
      onRetry: options.retry === undefined ? options.log : (options.retry.onRetry ?? options.log),
    })
  }
  return options.log === undefined ? backend : withLogging(backend, options.log)
}

async function openBackend(location: RemoteLocation, name: string, options: OpenRemoteOptions): Promise<RemoteBackend> {
  switch (location.type) {
    case 'file':
      return FileBackend.open(location.path, { name })
    case 'smb':
      if (options.password === undefined) {
        throw new RemoteError('ELOGON', `SMB remote ${name} has no password: set the remote's credentials`, {
          remote: name,
        })
      }
      return SmbBackend.connect(location, options.password, { name })
    case 'nfs':
      if (options.nfs === undefined)
        throw new Error(`NFS remote ${name}: no mounts directory configured for NFS exports`)
      return openNfsBackend(location, { ...options.nfs, name })
    case 's3':
      throw new RemoteError(
        'EUNSUPPORTED',
        `S3 remote ${name}: S3 remotes are not supported yet. Use a file://, smb:// or nfs:// remote for now.`,
        { remote: name },
      )
  }
}
