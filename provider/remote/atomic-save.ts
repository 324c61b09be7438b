import type { RandomAccessFile } from '../disk/io'
import type { DataSource, FreeSpace, SaveOptions, SaveResult, Validator } from './backend'
import { isRemoteError, RemoteError, systemCodeOf, toRemoteError } from './errors'
import { checkFreeSpace, noSpaceError } from './free-space'
import { joinRemotePath, normalizeRemotePath, remoteBasename, remoteDirname } from './path'

/** The few primitives the atomic write protocol needs from a backend. */
export interface AtomicSaveTarget {
  readonly name: string
  /** Creates a new file for writing; fails with EEXIST if the name is taken. */
  createExclusive(path: string): Promise<RandomAccessFile>
  rename(from: string, to: string): Promise<void>
  remove(path: string): Promise<void>
  /** Makes a rename in `dir` durable (fsync of the directory); a no-op where the backend cannot. */
  syncDirectory(dir: string): Promise<void>
  freeSpace(): Promise<FreeSpace | undefined>
}

/**
 * Writes are coalesced into chunks of this size: few enough calls for SMB round trips to stay cheap,
 * small enough that memory use stays bounded whatever the file size.
 */
export const WRITE_CHUNK_SIZE = 4 * 1024 * 1024
/** Chunks at least this large are written as they come, without coalescing (no copy). */
const DIRECT_WRITE_SIZE = 1024 * 1024

/** XO's temporary name, so that XO's clean-up recognises our leftovers and we recognise XO's. */
export function temporaryName(path: string, now: number): string {
  return joinRemotePath(remoteDirname(path), `.${now}.${remoteBasename(path)}`)
}

/** True for names written by the protocol below while a write is under way (or was interrupted). */
export function isTemporaryName(name: string): boolean {
  return /^\.\d+\./.test(name)
}

/**
 * The write protocol of docs/remote-format.md §4, shared by every backend: free-space check,
 * exclusive temporary file in the same directory, streamed writes, sync, validation, rename, sync of
 * the directory. Any failure removes the temporary file and leaves an existing file untouched.
 */
export async function saveAtomically(
  target: AtomicSaveTarget,
  path: string,
  source: DataSource,
  options: SaveOptions = {},
): Promise<SaveResult> {
  const finalPath = normalizeRemotePath(path)
  if (finalPath === '') throw new Error('save needs a file path, not the remote root')
  if (options.expectedSize !== undefined) await checkFreeSpace(target, finalPath, options.expectedSize)
  options.signal?.throwIfAborted()

  const { tempPath, file } = await createTemporary(target, finalPath)
  // Counted as writes succeed, so a failure can say how far it got.
  const progress = { written: 0 }
  let open = true
  try {
    await writeAll(file, source, options.signal, progress, (error) =>
      toRemoteError(error, { remote: target.name, operation: 'write', path: tempPath }),
    )
    await file.sync().catch((error: unknown) => {
      throw toRemoteError(error, { remote: target.name, operation: 'sync', path: tempPath })
    })
    if (options.validator !== undefined)
      await validate(options.validator, file, finalPath, progress.written, target.name)
    open = false
    await file.close()
    await target.rename(tempPath, finalPath)
  } catch (error) {
    if (open) await file.close().catch(() => {})
    await target.remove(tempPath).catch(() => {})
    throw await explainFailure(error, target, finalPath, progress.written)
  }
  await target.syncDirectory(remoteDirname(finalPath))
  return { path: finalPath, size: progress.written }
}

async function createTemporary(
  target: AtomicSaveTarget,
  path: string,
): Promise<{ tempPath: string; file: RandomAccessFile }> {
  // Two writers of the same name within the same millisecond would pick the same temporary name:
  // the exclusive create catches it and the next millisecond's name is tried.
  const start = Date.now()
  for (let attempt = 0; ; attempt++) {
    const tempPath = temporaryName(path, start + attempt)
    try {
      return { tempPath, file: await target.createExclusive(tempPath) }
    } catch (error) {
      if (!(isRemoteError(error, 'EEXIST') && attempt < 16)) throw error
    }
  }
}

/**
 * Streams `source` into `file`. One write is in flight while the next chunk is read from the source,
 * so a network source and a network remote work at the same time. Small chunks are coalesced into
 * two alternating buffers (one being written, one being filled); chunks of 1 MiB or more are written
 * as they are, without a copy. Memory: at most two buffers plus the chunk in hand.
 */
async function writeAll(
  file: RandomAccessFile,
  source: DataSource,
  signal: AbortSignal | undefined,
  progress: { written: number },
  remoteError: (error: unknown) => RemoteError,
): Promise<void> {
  const buffers = [Buffer.allocUnsafe(WRITE_CHUNK_SIZE), Buffer.allocUnsafe(WRITE_CHUNK_SIZE)] as const
  let current = 0
  let filled = 0
  let submitted = 0
  let inFlight: Promise<void> = Promise.resolve()
  let failure: RemoteError | undefined
  const submit = async (data: Uint8Array) => {
    await inFlight
    if (failure !== undefined) throw failure
    const position = submitted
    submitted += data.length
    inFlight = file.write(position, data).then(
      () => {
        progress.written += data.length
      },
      (error: unknown) => {
        failure = remoteError(error)
      },
    )
  }
  try {
    for await (const chunk of source) {
      signal?.throwIfAborted()
      if (failure !== undefined) throw failure
      let offset = 0
      while (offset < chunk.length) {
        if (filled === 0 && chunk.length - offset >= DIRECT_WRITE_SIZE) {
          const end = Math.min(chunk.length, offset + WRITE_CHUNK_SIZE)
          await submit(chunk.subarray(offset, end))
          offset = end
          continue
        }
        const buffer = buffers[current]!
        const n = Math.min(WRITE_CHUNK_SIZE - filled, chunk.length - offset)
        buffer.set(chunk.subarray(offset, offset + n), filled)
        filled += n
        offset += n
        if (filled === WRITE_CHUNK_SIZE) {
          await submit(buffer)
          current ^= 1
          filled = 0
        }
      }
    }
    signal?.throwIfAborted()
    if (filled > 0) await submit(buffers[current]!.subarray(0, filled))
  } finally {
    // Never leave a write running behind an error: the caller closes and removes the file next.
    await inFlight
  }
  if (failure !== undefined) throw failure
}

async function validate(
  validator: Validator,
  file: RandomAccessFile,
  path: string,
  size: number,
  remote: string,
): Promise<void> {
  try {
    await validator(readOnlyView(file), { path, size })
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new RemoteError(
      'EINVALID',
      `"${path}" on remote ${remote} was rejected by its validator and not stored: ${reason}. ` +
        'A previous file of that name, if any, is untouched.',
      { remote, path, cause: error },
    )
  }
}

function readOnlyView(file: RandomAccessFile): RandomAccessFile {
  const refuse = () => Promise.reject(new Error('a validator must not modify the file it checks'))
  return {
    read: (position, length) => file.read(position, length),
    size: () => file.size(),
    write: refuse,
    truncate: refuse,
    sync: () => Promise.resolve(),
    // The protocol owns the handle: closing is its job.
    close: () => Promise.resolve(),
  }
}

async function explainFailure(
  error: unknown,
  target: AtomicSaveTarget,
  path: string,
  written: number,
): Promise<unknown> {
  const code = isRemoteError(error) ? (error.systemCode ?? error.code) : systemCodeOf(error)
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    // Measured after the temporary file is gone: what is really left for the next attempt.
    const free = await target.freeSpace().catch(() => undefined)
    return noSpaceError({ remote: target.name, path, written, free, cause: error })
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new RemoteError('EABORTED', `writing "${path}" to remote ${target.name} was cancelled; nothing was stored`, {
      remote: target.name,
      path,
      cause: error,
    })
  }
  // Errors of the data source (an export that failed mid-stream) are the producer's: pass them on.
  return error
}
