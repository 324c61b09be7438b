import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { OpenMode, RandomAccessFile } from '../disk/io'
import type {
  ByteRange,
  DataSource,
  FreeSpace,
  RemoteBackend,
  RemoteEntry,
  RemoteStat,
  SaveOptions,
  SaveResult,
} from './backend'
import { isRemoteError } from './errors'

/**
 * Cross-cutting concerns, written once around any backend (restic's model: backends stay small).
 * Nothing here sees a password: backends keep credentials to themselves and their names and error
 * messages never contain them.
 */

export interface RemoteOperationEvent {
  remote: string
  operation: string
  path?: string
  durationMs: number
  /** Bytes written by save(). */
  bytes?: number
  /** Retry number when > 0. */
  attempt?: number
  error?: { code: string; message: string }
}

export type RemoteLogger = (event: RemoteOperationEvent) => void

/** Logs every operation with its duration, size and outcome. */
export function withLogging(backend: RemoteBackend, log: RemoteLogger): RemoteBackend {
  const timed = async <T>(
    operation: string,
    path: string | undefined,
    action: () => Promise<T>,
    bytes?: (result: T) => number,
  ) => {
    const start = performance.now()
    try {
      const result = await action()
      log({ remote: backend.name, operation, path, durationMs: performance.now() - start, bytes: bytes?.(result) })
      return result
    } catch (error) {
      log({
        remote: backend.name,
        operation,
        path,
        durationMs: performance.now() - start,
        error: { code: codeOf(error), message: error instanceof Error ? error.message : String(error) },
      })
      throw error
    }
  }
  return {
    name: backend.name,
    capabilities: backend.capabilities,
    save: (path: string, source: DataSource, options?: SaveOptions): Promise<SaveResult> =>
      timed(
        'save',
        path,
        () => backend.save(path, source, options),
        (r) => r.size,
      ),
    open: (path: string, mode: OpenMode): Promise<RandomAccessFile> =>
      timed(`open (${mode})`, path, () => backend.open(path, mode)),
    read: (path: string, range?: ByteRange): Promise<Readable> => timed('read', path, () => backend.read(path, range)),
    stat: (path: string): Promise<RemoteStat> => timed('stat', path, () => backend.stat(path)),
    list: (dir: string): Promise<RemoteEntry[]> => timed('list', dir, () => backend.list(dir)),
    remove: (path: string) => timed('remove', path, () => backend.remove(path)),
    removeDirectory: (path: string) => timed('removeDirectory', path, () => backend.removeDirectory(path)),
    rename: (from: string, to: string) => timed('rename', `${from} -> ${to}`, () => backend.rename(from, to)),
    mkdir: (path: string, options?: { recursive?: boolean }) =>
      timed('mkdir', path, () => backend.mkdir(path, options)),
    setModifiedTime: (path: string, mtime: Date) =>
      timed('setModifiedTime', path, () => backend.setModifiedTime(path, mtime)),
    freeSpace: (): Promise<FreeSpace | undefined> => timed('freeSpace', undefined, () => backend.freeSpace()),
    close: () => timed('close', undefined, () => backend.close()),
  }
}

export interface RetryPolicy {
  /** Waits before each retry; their count is the number of retries. */
  delaysMs: number[]
  onRetry?: (event: RemoteOperationEvent) => void
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { delaysMs: [100, 500, 2000, 5000] }

/**
 * Retries operations that are safe to repeat when they fail with a transient error (a dropped
 * connection, a busy server). Not retried: save (its stream cannot be replayed), rename and
 * non-recursive mkdir (not idempotent: a lock's mkdir that succeeded before the connection dropped
 * would be retried into a false "already locked"), and operations on open files.
 */
export function withRetries(backend: RemoteBackend, policy: RetryPolicy = DEFAULT_RETRY_POLICY): RemoteBackend {
  const retried = async <T>(
    operation: string,
    path: string | undefined,
    action: () => Promise<T>,
    alreadyDone?: string,
  ) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await action()
      } catch (error) {
        // A removal retried after a dropped reply may find its work done.
        if (attempt > 0 && alreadyDone !== undefined && isRemoteError(error, 'ENOENT')) return undefined as T
        const delay = policy.delaysMs[attempt]
        if (!isRemoteError(error) || !error.transient || delay === undefined) throw error
        policy.onRetry?.({
          remote: backend.name,
          operation,
          path,
          durationMs: delay,
          attempt: attempt + 1,
          error: { code: error.code, message: error.message },
        })
        await sleep(delay)
      }
    }
  }
  return {
    name: backend.name,
    capabilities: backend.capabilities,
    save: (path, source, options) => backend.save(path, source, options),
    open: (path, mode) =>
      mode === 'read' ? retried('open', path, () => backend.open(path, mode)) : backend.open(path, mode),
    read: (path, range) => retried('read', path, () => backend.read(path, range)),
    stat: (path) => retried('stat', path, () => backend.stat(path)),
    list: (dir) => retried('list', dir, () => backend.list(dir)),
    remove: (path) => retried('remove', path, () => backend.remove(path), 'removed'),
    removeDirectory: (path) => retried('removeDirectory', path, () => backend.removeDirectory(path), 'removed'),
    rename: (from, to) => backend.rename(from, to),
    mkdir: (path, options) =>
      options?.recursive === true
        ? retried('mkdir', path, () => backend.mkdir(path, options))
        : backend.mkdir(path, options),
    setModifiedTime: (path, mtime) => retried('setModifiedTime', path, () => backend.setModifiedTime(path, mtime)),
    freeSpace: () => retried('freeSpace', undefined, () => backend.freeSpace()),
    close: () => backend.close(),
  }
}

function codeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string')
    return error.code
  return 'ERROR'
}
