import { Readable } from 'node:stream'
import type { RandomAccessFile } from '../disk/io'
import type { ByteRange } from './backend'

/**
 * A Readable over [start, end) of an open file, one chunk in flight at a time; the file is closed
 * when the stream ends or is destroyed. For backends without a native read stream.
 */
export function readStreamFromFile(
  file: RandomAccessFile,
  range: ByteRange = { start: 0 },
  chunkSize = 1 << 20,
): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      let position = range.start
      while (range.end === undefined || position < range.end) {
        const length = range.end === undefined ? chunkSize : Math.min(chunkSize, range.end - position)
        const chunk = await file.read(position, length)
        if (chunk.length > 0) yield chunk
        position += chunk.length
        if (chunk.length < length) break
      }
    } finally {
      await file.close()
    }
  }
  return Readable.from(chunks(), { objectMode: false })
}
