import type { Dirent, Stats } from 'node:fs'
import { constants } from 'node:fs'
import { access, mkdir, open, readdir, rename, rmdir, stat, statfs, unlink, utimes } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { Readable } from 'node:stream'
import { type OpenMode, openLocalFile, type RandomAccessFile } from '../../disk/io'
import { saveAtomically } from '../atomic-save'
import type {
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
} from '../backend'
import { RemoteError, systemCodeOf, toRemoteError } from '../errors'
import { normalizeRemotePath } from '../path'

export interface FileBackendOptions {
  /** How messages name this remote; defaults to its file:// URL. */
  name?: string
}

/**
 * A remote in a local directory: a disk of the backup host, or an NFS/SMB export mounted there.
 * POSIX semantics throughout: atomic rename, fsync of files and directories, statvfs.
 */
export class FileBackend implements RemoteBackend {
  readonly capabilities: BackendCapabilities = {
    atomicReplace: true,
    randomAccess: true,
    maxConnections: 8,
    locking: true,
    durableSync: true,
  }

  private constructor(
    readonly root: string,
    readonly name: string,
  ) {}

  /** Opens a remote at `root`, which must be an existing directory this process can write. */
  static async open(root: string, options: FileBackendOptions = {}): Promise<FileBackend> {
    const name = options.name ?? `file://${root}`
    let stats: Stats
    try {
      stats = await stat(root)
      await access(root, constants.R_OK | constants.W_OK | constants.X_OK)
    } catch (error) {
      const code = systemCodeOf(error)
      if (code === 'ENOENT') {
        throw new RemoteError(
          'ENOENT',
          `remote ${name}: directory ${root} does not exist; create it, or mount the export there first`,
          { remote: name, cause: error, systemCode: code },
        )
      }
      throw toRemoteError(error, { remote: name, operation: 'open the remote directory', path: root })
    }
    if (!stats.isDirectory()) {
      throw new RemoteError('ENOTDIR', `remote ${name}: ${root} is not a directory`, { remote: name })
    }
    return new FileBackend(root, name)
  }

  save(path: string, source: DataSource, options?: SaveOptions): Promise<SaveResult> {
    return saveAtomically(
      {
        name: this.name,
        createExclusive: (p) => this.createExclusive(p),
        rename: (from, to) => this.rename(from, to),
        remove: (p) => this.remove(p),
        syncDirectory: (dir) => this.syncDirectory(dir),
        freeSpace: () => this.freeSpace(),
      },
      path,
      source,
      options,
    )
  }

  async open(path: string, mode: OpenMode): Promise<RandomAccessFile> {
    const local = this.local(path)
    const file = await this.attempt(`open (${mode})`, path, () => openLocalFile(local, mode))
    return this.reportingErrors(file, path)
  }

  async read(path: string, range?: ByteRange): Promise<Readable> {
    const handle = await this.attempt('read', path, () => open(this.local(path), 'r'))
    if (range?.end !== undefined && range.end <= range.start) {
      await handle.close()
      return Readable.from([])
    }
    return handle.createReadStream({
      start: range?.start,
      end: range?.end === undefined ? undefined : range.end - 1,
      highWaterMark: 1024 * 1024,
    })
  }

  stat(path: string): Promise<RemoteStat> {
    return this.attempt('stat', path, async () => {
      const stats = await stat(this.local(path))
      return { kind: kindOf(stats), size: stats.size, mtime: stats.mtime }
    })
  }

  list(dir: string): Promise<RemoteEntry[]> {
    return this.attempt('list', dir, async () => {
      const entries = await readdir(this.local(dir), { withFileTypes: true })
      return entries.map((entry) => ({ name: entry.name, kind: kindOf(entry) }))
    })
  }

  remove(path: string): Promise<void> {
    return this.attempt('remove', path, () => unlink(this.local(path)))
  }

  removeDirectory(path: string): Promise<void> {
    return this.attempt('remove the directory', path, () => rmdir(this.local(path)))
  }

  rename(from: string, to: string): Promise<void> {
    return this.attempt(`rename "${normalizeRemotePath(from)}" to`, to, () => rename(this.local(from), this.local(to)))
  }

  mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    return this.attempt('create the directory', path, async () => {
      await mkdir(this.local(path), { recursive: options.recursive === true })
    })
  }

  setModifiedTime(path: string, mtime: Date): Promise<void> {
    return this.attempt('set the modification time of', path, () => utimes(this.local(path), mtime, mtime))
  }

  async freeSpace(): Promise<FreeSpace> {
    const stats = await this.attempt('measure free space in', '', () => statfs(this.root))
    return { available: stats.bavail * stats.bsize, total: stats.blocks * stats.bsize }
  }

  async close(): Promise<void> {}

  /** The local path of a remote path; normalisation keeps it below the root. */
  local(path: string): string {
    const relative = normalizeRemotePath(path)
    return relative === '' ? this.root : join(this.root, relative.split('/').join(sep))
  }

  private async createExclusive(path: string): Promise<RandomAccessFile> {
    const local = this.local(path)
    // io.ts opens files by mode; an exclusive create first makes sure no one else's file is reused.
    await this.attempt('create', path, async () => (await open(local, 'wx', 0o644)).close())
    return this.open(path, 'update')
  }

  private async syncDirectory(dir: string): Promise<void> {
    await this.attempt('sync the directory', dir, async () => {
      const handle = await open(this.local(dir), 'r')
      try {
        await handle.sync()
      } finally {
        await handle.close()
      }
    })
  }

  private async attempt<T>(operation: string, path: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action()
    } catch (error) {
      throw toRemoteError(error, { remote: this.name, operation, path: normalizeRemotePath(path) || '/' })
    }
  }

  /** io.ts reports raw Node errors; callers of a backend get RemoteErrors that name the remote. */
  private reportingErrors(file: RandomAccessFile, path: string): RandomAccessFile {
    const wrap =
      <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) =>
      (...args: A) =>
        this.attempt(operation, path, () => fn(...args))
    return {
      read: wrap('read', (position: number, length: number) => file.read(position, length)),
      write: wrap('write', (position: number, data: Uint8Array) => file.write(position, data)),
      size: wrap('stat', () => file.size()),
      truncate: wrap('truncate', (size: number) => file.truncate(size)),
      sync: wrap('sync', () => file.sync()),
      close: wrap('close', () => file.close()),
    }
  }
}

function kindOf(entry: Dirent | Stats): EntryKind {
  return entry.isFile() ? 'file' : entry.isDirectory() ? 'directory' : 'other'
}
