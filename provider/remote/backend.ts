import type { Readable } from 'node:stream'
import type { OpenMode, RandomAccessFile } from '../disk/io'

/**
 * One storage backend (a local directory, an SMB share, a mounted NFS export). Every remote
 * operation of the runner, the repository layout and the VHD code goes through this interface, so
 * backends stay small and cross-cutting concerns (retries, logging, timing) wrap it once
 * (`instrumented.ts`). Paths are relative to the remote's root and use "/" (`path.ts`).
 */
export interface RemoteBackend {
  /** How messages name the remote: its name or URL, never credentials. */
  readonly name: string
  readonly capabilities: BackendCapabilities

  /**
   * Writes a stream to `path` atomically (docs/remote-format.md §4): a temporary file, made durable,
   * validated, then renamed. On failure nothing is left behind and an existing file is untouched.
   */
  save(path: string, source: DataSource, options?: SaveOptions): Promise<SaveResult>
  /** Opens a file for positioned reads and writes (VHD validation and in-place merges). */
  open(path: string, mode: OpenMode): Promise<RandomAccessFile>
  /** Streams a file, or the bytes [start, end) of it. Fails with ENOENT before returning if it does not exist. */
  read(path: string, range?: ByteRange): Promise<Readable>
  stat(path: string): Promise<RemoteStat>
  /** The entries of a directory, in no particular order, without "." and "..". */
  list(dir: string): Promise<RemoteEntry[]>
  /** Removes a file. */
  remove(path: string): Promise<void>
  /** Removes an empty directory. */
  removeDirectory(path: string): Promise<void>
  /** Renames a file or directory; replaces an existing file (atomically only if `capabilities.atomicReplace`). */
  rename(from: string, to: string): Promise<void>
  /** Creates a directory; `recursive` creates parents and accepts an existing one, otherwise EEXIST (locks rely on it). */
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>
  /** Sets a file's or directory's modification time (lock keep-alive). */
  setModifiedTime(path: string, mtime: Date): Promise<void>
  /** Space left for new data, or undefined when the backend cannot tell. */
  freeSpace(): Promise<FreeSpace | undefined>
  /** Releases connections and mounts. The backend is unusable afterwards. */
  close(): Promise<void>
}

export interface BackendCapabilities {
  /** rename() over an existing file is atomic (POSIX rename). False on SMB (libsmbclient unlinks first). */
  readonly atomicReplace: boolean
  /** open() supports positioned reads and writes, so VHD merges can run in place. */
  readonly randomAccess: boolean
  /** How many operations are worth running in parallel against this backend. */
  readonly maxConnections: number
  /** mkdir is atomic and mtimes can be set: XO-compatible (proper-lockfile) locks work. */
  readonly locking: boolean
  /** sync() reaches the storage (fsync); false when only the server's acknowledgement is available. */
  readonly durableSync: boolean
}

/** Bytes as they come: a Node.js Readable, any async iterable of chunks, or chunks already in memory. */
export type DataSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/**
 * Checks a fully written temporary file before it is renamed into place (VHD header and footers,
 * XVA structure). It reads through the same random-access interface a restore uses and throws to
 * reject the file. The file is read-only for the validator.
 */
export type Validator = (file: RandomAccessFile, info: { path: string; size: number }) => Promise<void>

export interface SaveOptions {
  validator?: Validator
  /** Expected size in bytes: enables the free-space check before anything is written. */
  expectedSize?: number
  signal?: AbortSignal
}

export interface SaveResult {
  path: string
  size: number
}

/** Bytes [start, end): end is exclusive; omitted means to the end of the file. */
export interface ByteRange {
  start: number
  end?: number
}

export type EntryKind = 'file' | 'directory' | 'other'

export interface RemoteEntry {
  name: string
  kind: EntryKind
}

export interface RemoteStat {
  kind: EntryKind
  size: number
  mtime: Date
}

export interface FreeSpace {
  /** Bytes an unprivileged writer can still use. */
  available: number
  total: number
}
