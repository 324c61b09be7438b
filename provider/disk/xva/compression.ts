import { pipeline, Readable, type Transform } from 'node:stream'
import { createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib'

export type XvaCompression = 'none' | 'gzip' | 'zstd'

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b])
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])

/** Compression of an XVA from its first bytes (XAPI compresses the whole tar with gzip or zstd, or not at all). */
export function detectCompression(start: Uint8Array): XvaCompression {
  const head = Buffer.from(start.buffer, start.byteOffset, start.length)
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip'
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd'
  return 'none'
}

/** A byte stream compressed as asked, with errors of either side propagated. */
export function compress(source: Readable, compression: XvaCompression): Readable {
  if (compression === 'none') return source
  return through(source, compression === 'gzip' ? createGzip() : createZstdCompress())
}

/** The decompressed bytes of `source`. */
export function decompress(source: AsyncIterable<Uint8Array>, compression: Exclude<XvaCompression, 'none'>): Readable {
  return through(
    Readable.from(source, { objectMode: false }),
    compression === 'gzip' ? createGunzip() : createZstdDecompress(),
  )
}

/** `transform` fed by `source`; `pipeline` destroys every stream with the first error, so readers of `transform` see it. */
function through(source: Readable, transform: Transform): Readable {
  return pipeline(source, transform, () => {
    // errors reach whoever reads `transform`
  })
}

/** True for the error a Node decompressor raises when its input ends in the middle of the data. */
export function isTruncationError(error: unknown): boolean {
  const e = error as { code?: string; message?: string }
  return e?.code === 'Z_BUF_ERROR' || e?.message === 'unexpected end of file'
}
