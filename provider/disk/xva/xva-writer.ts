import { Readable } from 'node:stream'
import { isZero } from '../zero'
import { compress, type XvaCompression } from './compression'
import { XvaError } from './errors'
import { TAR_END, tarEntry } from './tar'
import { xxh64Hex } from './xxhash'

/** XVA disks are cut into 1 MiB chunks. */
export const XVA_CHUNK_SIZE = 1024 * 1024

export interface XvaDiskSource {
  /** The disk's directory in the tar: the VDI's id in ova.xml, e.g. `Ref:7`. */
  ref: string
  /** Virtual size in bytes. */
  size: number
  /** Bytes [index MiB, min(size, (index + 1) MiB)) of the disk: a full chunk except maybe the last. */
  readChunk(index: number): Promise<Uint8Array>
  /** Chunks that may hold data, when known (from a block map): the others are zero and are skipped unread. */
  allocatedChunks?: Iterable<number>
}

export interface XvaWriteOptions {
  /** The `ova.xml` entry, already encoded (XML-RPC `{version, objects}`). */
  ovaXml: Uint8Array
  /** Disks in stream order (XAPI sorts them by ref). */
  disks: readonly XvaDiskSource[]
  /** Whole-stream compression; XAPI's `use_compression=true|zstd`. Default none. */
  compression?: XvaCompression
  /** Tar entry modification time, seconds since the Unix epoch (default 0). */
  mtime?: number
}

/**
 * The uncompressed tar of an XVA exactly as XAPI writes it (`stream_vdi.ml`): `ova.xml` first, then for each
 * disk its 1 MiB chunks `<ref>/%08d`, each followed by `<ref>/%08d.xxhash` (XXH64 seed 0, 16 upper-case hex
 * digits); all-zero chunks are left out except the first and the last, which a reader needs to know the size;
 * then the tar end marker. Holds one chunk at a time.
 */
export async function* xvaTarChunks(options: XvaWriteOptions): AsyncGenerator<Buffer> {
  const mtime = options.mtime ?? 0
  yield* tarEntry('ova.xml', options.ovaXml, { mtime })
  for (const disk of options.disks) {
    for (const index of chunksToVisit(disk)) {
      const expected = Math.min(XVA_CHUNK_SIZE, disk.size - index * XVA_CHUNK_SIZE)
      const data = await disk.readChunk(index)
      if (data.length !== expected) {
        throw new XvaError({
          code: 'XVA_INVALID_ARGUMENT',
          problem: `readChunk(${index}) of ${disk.ref} returned the wrong number of bytes`,
          field: disk.ref,
          expected,
          actual: data.length,
          advice: 'This is a bug in the disk source: return the whole chunk.',
        })
      }
      const last = index === lastChunk(disk)
      if (index !== 0 && !last && isZero(data)) continue
      const name = `${disk.ref}/${String(index).padStart(8, '0')}`
      yield* tarEntry(name, data, { mtime })
      yield* tarEntry(`${name}.xxhash`, Buffer.from(await xxh64Hex(data), 'latin1'), { mtime })
    }
  }
  yield TAR_END
}

/** An XVA as a Node byte stream, compressed as asked, with backpressure. */
export function createXvaStream(options: XvaWriteOptions): Readable {
  for (const disk of options.disks) {
    if (!/^[^/]+$/.test(disk.ref) || !Number.isSafeInteger(disk.size) || disk.size < 0) {
      throw new XvaError({
        code: 'XVA_INVALID_ARGUMENT',
        problem: 'a disk needs a ref without `/` and a non-negative size',
        field: disk.ref,
        actual: disk.size,
        advice: 'This is a bug in the caller.',
      })
    }
  }
  return compress(
    Readable.from(xvaTarChunks(options), { objectMode: false, highWaterMark: 64 * 1024 }),
    options.compression ?? 'none',
  )
}

const lastChunk = (disk: XvaDiskSource) => Math.ceil(disk.size / XVA_CHUNK_SIZE) - 1

/** Chunk indices to read, ascending: all, or the allocated ones plus the first and the last. */
function chunksToVisit(disk: XvaDiskSource): Iterable<number> {
  const last = lastChunk(disk)
  if (last < 0) return []
  if (disk.allocatedChunks === undefined) return { [Symbol.iterator]: () => range(0, last + 1) }
  const set = new Set<number>([0, last])
  for (const index of disk.allocatedChunks) if (index >= 0 && index <= last) set.add(index)
  return [...set].sort((a, b) => a - b)
}

function* range(start: number, end: number): Generator<number> {
  for (let i = start; i < end; i++) yield i
}
