import { constants } from 'node:fs'
import type { Readable } from 'node:stream'
import type { OpenMode, RandomAccessFile } from '../../disk/io'
import { formatRemoteUrl, type RemoteLocation } from '../../policy/remote-url'
import { saveAtomically } from '../atomic-save'
import type {
  BackendCapabilities,
  ByteRange,
  DataSource,
  FreeSpace,
  RemoteBackend,
  RemoteEntry,
  RemoteStat,
  SaveOptions,
  SaveResult,
} from '../backend'
import { RemoteError, systemCodeOf, toRemoteError } from '../errors'
import { joinRemotePath, normalizeRemotePath } from '../path'
import { readStreamFromFile } from '../read-stream'
import type { Pointer } from './libsmbclient'
import { SmbConnection, type SmbStat } from './smb-connection'

export type SmbLocation = Extract<RemoteLocation, { type: 'smb' }>

export interface SmbBackendOptions {
  /** How messages name this remote; defaults to its smb:// URL (which never holds the password). */
  name?: string
  /** Per-call timeout of libsmbclient, in milliseconds (default 30 s). */
  timeoutMs?: number
}

const flagsByMode: Record<OpenMode | 'exclusive', number> = {
  read: constants.O_RDONLY,
  update: constants.O_RDWR,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
  exclusive: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
}

/**
 * A remote on an SMB share, reached with Samba's libsmbclient (no kernel mount, no root needed).
 * Random access works, so VHD merges run in place on the share, as XO's do on its CIFS mounts.
 */
export class SmbBackend implements RemoteBackend {
  readonly capabilities: BackendCapabilities = {
    // libsmbclient's rename deletes an existing target, then renames: not atomic (docs/remote-format.md §4).
    atomicReplace: false,
    randomAccess: true,
    // One call at a time into libsmbclient, process-wide (libsmbclient.ts).
    maxConnections: 1,
    locking: true,
    // libsmbclient has no flush call: durability is the server's once it acknowledges a write.
    durableSync: false,
  }

  private readonly openFiles = new Set<SmbFile>()

  private constructor(
    private readonly connection: SmbConnection,
    private readonly base: string,
    readonly name: string,
  ) {}

  /**
   * Connects and logs on, so that a wrong password, an unknown share or an unreachable server is
   * reported now, with a message that says which, rather than at the first backup.
   */
  static async connect(location: SmbLocation, password: string, options: SmbBackendOptions = {}): Promise<SmbBackend> {
    const name = options.name ?? formatRemoteUrl(location)
    const connection = await SmbConnection.open(
      { host: location.host, port: location.port, share: location.share },
      { username: location.username, domain: location.domain, password },
      { timeoutMs: options.timeoutMs },
    )
    try {
      await connection.stat('')
    } catch (error) {
      // Access denied to the share means a bad logon, or a good logon without rights on the share:
      // listing the server's shares needs only the logon, so it tells the two apart.
      const loggedOn =
        isAccessDenied(error) &&
        (await connection.listShares().then(
          () => true,
          () => false,
        ))
      await connection.close().catch(() => {})
      throw connectError(error, location, name, loggedOn)
    }
    const base = normalizeRemotePath(location.path)
    if (base !== '') {
      let stats: SmbStat
      try {
        stats = await connection.stat(base)
      } catch (error) {
        await connection.close().catch(() => {})
        if (systemCodeOf(error) === 'ENOENT') {
          throw new RemoteError(
            'ENOENT',
            `remote ${name}: directory "${base}" does not exist on share "${location.share}"; create it first`,
            { remote: name, path: base, cause: error, systemCode: 'ENOENT' },
          )
        }
        throw toRemoteError(error, { remote: name, operation: 'open the remote directory', path: base })
      }
      if (!stats.isDirectory) {
        await connection.close().catch(() => {})
        throw new RemoteError('ENOTDIR', `remote ${name}: "${base}" on share "${location.share}" is not a directory`, {
          remote: name,
          path: base,
        })
      }
    }
    return new SmbBackend(connection, base, name)
  }

  save(path: string, source: DataSource, options?: SaveOptions): Promise<SaveResult> {
    return saveAtomically(
      {
        name: this.name,
        createExclusive: (p) => this.openWith(p, 'exclusive'),
        rename: (from, to) => this.rename(from, to),
        remove: (p) => this.remove(p),
        // Nothing to flush: the server acknowledged the rename.
        syncDirectory: async () => {},
        freeSpace: () => this.freeSpace(),
      },
      path,
      source,
      options,
    )
  }

  open(path: string, mode: OpenMode): Promise<RandomAccessFile> {
    return this.openWith(path, mode)
  }

  async read(path: string, range?: ByteRange): Promise<Readable> {
    return readStreamFromFile(await this.openWith(path, 'read'), range)
  }

  stat(path: string): Promise<RemoteStat> {
    return this.attempt('stat', path, async () => {
      const stats = await this.connection.stat(this.full(path))
      return {
        kind: stats.isFile ? 'file' : stats.isDirectory ? 'directory' : 'other',
        size: stats.size,
        mtime: stats.mtime,
      }
    })
  }

  list(dir: string): Promise<RemoteEntry[]> {
    return this.attempt('list', dir, () => this.connection.list(this.full(dir)))
  }

  remove(path: string): Promise<void> {
    return this.attempt('remove', path, () => this.connection.unlink(this.full(path)))
  }

  removeDirectory(path: string): Promise<void> {
    return this.attempt('remove the directory', path, () => this.connection.rmdir(this.full(path)))
  }

  rename(from: string, to: string): Promise<void> {
    return this.attempt(`rename "${normalizeRemotePath(from)}" to`, to, () =>
      this.connection.rename(this.full(from), this.full(to)),
    )
  }

  async mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const target = normalizeRemotePath(path)
    if (options.recursive !== true) {
      return this.attempt('create the directory', target, () => this.connection.mkdir(this.full(target)))
    }
    let current = ''
    for (const segment of target.split('/').filter((s) => s !== '')) {
      current = joinRemotePath(current, segment)
      try {
        await this.connection.mkdir(this.full(current))
      } catch (error) {
        if (systemCodeOf(error) !== 'EEXIST') throw toRemoteError(error, this.context('create the directory', current))
        const existing = await this.stat(current)
        if (existing.kind !== 'directory') {
          throw new RemoteError(
            'ENOTDIR',
            `cannot create the directory "${target}" on remote ${this.name}: "${current}" is a file`,
            {
              remote: this.name,
              path: current,
            },
          )
        }
      }
    }
  }

  setModifiedTime(path: string, mtime: Date): Promise<void> {
    return this.attempt('set the modification time of', path, () =>
      this.connection.setModifiedTime(this.full(path), mtime),
    )
  }

  freeSpace(): Promise<FreeSpace> {
    return this.attempt('measure free space in', '', () => this.connection.freeSpace(this.base))
  }

  async close(): Promise<void> {
    for (const file of this.openFiles) await file.close().catch(() => {})
    await this.connection.close()
  }

  private async openWith(path: string, mode: OpenMode | 'exclusive'): Promise<RandomAccessFile> {
    const handle = await this.attempt(`open (${mode})`, path, () =>
      this.connection.open(this.full(path), flagsByMode[mode]),
    )
    const file = new SmbFile(
      this.connection,
      handle,
      (operation, action) => this.attempt(operation, path, action),
      () => this.openFiles.delete(file),
    )
    this.openFiles.add(file)
    return file
  }

  private full(path: string): string {
    return joinRemotePath(this.base, path)
  }

  private context(operation: string, path: string) {
    return { remote: this.name, operation, path: normalizeRemotePath(path) || '/' }
  }

  private async attempt<T>(operation: string, path: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action()
    } catch (error) {
      throw toRemoteError(error, this.context(operation, path))
    }
  }
}

type Attempt = <T>(operation: string, action: () => Promise<T>) => Promise<T>

/** An open file on the share: positioned reads and writes (lseek + read/write in one queued job). */
class SmbFile implements RandomAccessFile {
  private closed = false

  constructor(
    private readonly connection: SmbConnection,
    private readonly handle: Pointer,
    private readonly attempt: Attempt,
    private readonly onClose: () => void,
  ) {}

  read(position: number, length: number): Promise<Buffer> {
    return this.attempt('read', () => this.connection.read(this.handle, position, length))
  }

  write(position: number, data: Uint8Array): Promise<void> {
    return this.attempt('write', () => this.connection.write(this.handle, position, data))
  }

  size(): Promise<number> {
    return this.attempt('stat', async () => (await this.connection.fileStat(this.handle)).size)
  }

  truncate(size: number): Promise<void> {
    return this.attempt('truncate', () => this.connection.truncate(this.handle, size))
  }

  /** Every write has been acknowledged by the server; libsmbclient has no flush to add. */
  async sync(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.onClose()
    await this.attempt('close', () => this.connection.closeFile(this.handle))
  }
}

function isAccessDenied(error: unknown): boolean {
  const code = systemCodeOf(error)
  return code === 'EACCES' || code === 'EPERM'
}

/** The first call logs on: its failures say what is wrong with the remote's settings. */
function connectError(error: unknown, location: SmbLocation, name: string, loggedOn: boolean): RemoteError {
  const code = systemCodeOf(error)
  const server = `${location.host}${location.port === undefined ? '' : `:${location.port}`}`
  const user = location.domain === undefined ? location.username : `${location.domain}\\${location.username}`
  const details = { remote: name, cause: error, systemCode: code }
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return loggedOn
        ? new RemoteError(
            'EACCES',
            `SMB user "${user}" logged on to host ${server} but may not access share "${location.share}": ` +
              "grant this user access to the share (the share's valid users and its directory's permissions)",
            details,
          )
        : new RemoteError(
            'ELOGON',
            `SMB logon failure for user "${user}" on host ${server}: check the remote's credentials (user name, password, domain)`,
            details,
          )
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      return new RemoteError(
        'ENOSHARE',
        `SMB share "${location.share}" was not found on host ${server}: check the share name in the remote's URL`,
        details,
      )
    case 'ECONNREFUSED':
      return new RemoteError(
        'ECONNREFUSED',
        `cannot connect to the SMB server ${server}: connection refused; check that the server is running and the port is right ` +
          `(${location.port === undefined ? '445, the default' : `${location.port}, from the URL`})`,
        details,
      )
    default:
      return toRemoteError(error, { remote: name, operation: `connect to the SMB server ${server} as "${user}"` })
  }
}
