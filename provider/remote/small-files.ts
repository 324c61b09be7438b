import type { RemoteBackend, SaveOptions, SaveResult } from './backend'
import { isRemoteError, RemoteError } from './errors'

/**
 * Reads a file that is small by nature (metadata JSON, caches, lock and merge records). The bound
 * keeps a corrupt or misplaced huge file from being buffered whole.
 */
export async function readSmallFile(
  backend: RemoteBackend,
  path: string,
  maxBytes = 64 * 1024 * 1024,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  const stream = await backend.read(path)
  for await (const chunk of stream) {
    const buffer = chunk as Buffer
    total += buffer.length
    if (total > maxBytes) {
      stream.destroy()
      throw new RemoteError(
        'EINVALID',
        `"${path}" on remote ${backend.name} is larger than ${maxBytes} bytes, too large for what it should be; it was not read`,
        { remote: backend.name, path },
      )
    }
    chunks.push(buffer)
  }
  return Buffer.concat(chunks)
}

/** Saves a small in-memory file with the atomic protocol (docs/remote-format.md §4). */
export function saveSmallFile(
  backend: RemoteBackend,
  path: string,
  data: string | Uint8Array,
  options?: SaveOptions,
): Promise<SaveResult> {
  return backend.save(path, [typeof data === 'string' ? Buffer.from(data, 'utf8') : data], options)
}

export async function exists(backend: RemoteBackend, path: string): Promise<boolean> {
  try {
    await backend.stat(path)
    return true
  } catch (error) {
    if (isRemoteError(error, 'ENOENT')) return false
    throw error
  }
}
