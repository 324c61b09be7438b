import { ByteReader } from '../byte-reader'
import { decompress, detectCompression, isTruncationError, type XvaCompression } from './compression'
import { XvaError, type XvaSource, xvaAdvice } from './errors'
import { readTar } from './tar'
import { XVA_CHUNK_SIZE } from './xva-writer'
import { sha1Hex, xxh64Hex } from './xxhash'

export type XvaItem =
  | { type: 'ova.xml'; data: Buffer }
  /** A verified, non-empty chunk; `offset` is its tar header's position in the (decompressed) tar. */
  | { type: 'chunk'; ref: string; index: number; data: Buffer; offset: number }
  /** The tar end marker was reached: the export is complete. */
  | { type: 'end'; tarLength: number; compression: XvaCompression }

export interface ReadXvaOptions {
  /** Name for error messages, e.g. `export of VM <uuid>` or a file path. */
  name?: string
  /** `stream` (default): an incoming export; `file`: a stored backup. Decides the advice in errors. */
  kind?: 'stream' | 'file'
}

const CHUNK_NAME = /^([^/]+)\/(\d{8,})$/
const HASH_NAME = /^([^/]+)\/(\d{8,})\.(xxhash|checksum)$/

interface PendingChunk {
  name: string
  ref: string
  index: number
  data: Buffer
  offset: number
}

/**
 * Reads an XVA (plain, gzip or zstd, detected from the first bytes) with at most one chunk in memory and
 * yields `ova.xml`, then each chunk only after its `.xxhash` (or legacy SHA-1 `.checksum`) entry verified it,
 * then `end`. Tolerates XAPI's zero-byte keep-alive chunks (and the repeated name that follows one).
 * Every problem is an `XvaError` naming the entry and offset.
 */
export async function* readXva(
  stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ReadXvaOptions = {},
): AsyncGenerator<XvaItem> {
  const source: XvaSource = { name: options.name, kind: options.kind ?? 'stream' }
  const raw = new ByteReader(stream)
  const compression = detectCompression(await raw.peek(4))
  const tar = compression === 'none' ? raw.rest() : decompress(raw.rest(), compression)
  try {
    yield* readEntries(tar, source, compression)
  } catch (error) {
    if (compression !== 'none' && !(error instanceof XvaError))
      throw decompressionError(error, compression, raw.position, source)
    throw error
  } finally {
    await raw.close()
  }
}

async function* readEntries(
  tar: AsyncIterable<Uint8Array>,
  source: XvaSource,
  compression: XvaCompression,
): AsyncGenerator<XvaItem> {
  const fail = (
    code: XvaError['code'],
    problem: string,
    field: string,
    offset: number,
    expected?: unknown,
    actual?: unknown,
  ) => new XvaError({ code, problem, field, offset, expected, actual, source: source.name, advice: xvaAdvice(source) })
  let seenOvaXml = false
  let pending: PendingChunk | undefined
  /** Per disk: the last chunk index seen, and whether it was a zero-byte keep-alive (its name may repeat). */
  const progress = new Map<string, { index: number; keepAlive: boolean }>()
  let currentRef: string | undefined

  for await (const item of readTar(tar, { source, maxEntrySize: 64 * 1024 * 1024 })) {
    if (item.type === 'end') {
      if (pending !== undefined) throw missingHash(pending)
      if (!seenOvaXml) throw fail('XVA_MISSING_OVA_XML', 'the archive has no ova.xml', 'ova.xml', item.offset)
      yield { type: 'end', tarLength: item.offset + 1024, compression }
      return
    }
    const { header, offset, data } = item
    if (!seenOvaXml) {
      if (header.name !== 'ova.xml')
        throw fail(
          'XVA_MISSING_OVA_XML',
          'the first entry of an XVA must be ova.xml',
          header.name,
          offset,
          'ova.xml',
          header.name,
        )
      seenOvaXml = true
      yield { type: 'ova.xml', data }
      continue
    }
    if (header.type === '5') continue // a directory entry (hand-made archives): nothing to read
    if (header.type !== '0')
      throw fail('XVA_UNKNOWN_ENTRY', `an XVA holds only regular files, not type ${header.type}`, header.name, offset)

    const hash = HASH_NAME.exec(header.name)
    if (hash !== null) {
      const chunkName = `${hash[1]}/${hash[2]}`
      if (pending === undefined || pending.name !== chunkName) {
        throw fail(
          'XVA_UNKNOWN_ENTRY',
          `a hash entry does not follow its chunk ${chunkName}`,
          header.name,
          offset,
          pending?.name ?? 'a chunk entry',
          header.name,
        )
      }
      const expected = data.toString('latin1').trim()
      const actual = hash[3] === 'xxhash' ? await xxh64Hex(pending.data) : sha1Hex(pending.data)
      if (expected.toLowerCase() !== actual.toLowerCase()) {
        throw fail(
          'XVA_HASH_MISMATCH',
          `chunk ${chunkName} does not match its ${hash[3]}: its data is corrupt`,
          header.name,
          offset,
          expected,
          actual,
        )
      }
      if (pending.data.length > 0)
        yield { type: 'chunk', ref: pending.ref, index: pending.index, data: pending.data, offset: pending.offset }
      pending = undefined
      continue
    }

    const chunk = CHUNK_NAME.exec(header.name)
    if (chunk === null)
      throw fail('XVA_UNKNOWN_ENTRY', 'this entry is neither a disk chunk nor a chunk hash', header.name, offset)
    if (pending !== undefined) throw missingHash(pending)
    const ref = chunk[1]!
    const index = Number(chunk[2])
    if (data.length > XVA_CHUNK_SIZE)
      throw fail(
        'XVA_BAD_CHUNK_SIZE',
        'a disk chunk is larger than 1 MiB',
        header.name,
        offset,
        `at most ${XVA_CHUNK_SIZE} bytes`,
        data.length,
      )
    if (ref !== currentRef) {
      if (progress.has(ref))
        throw fail('XVA_CHUNK_OUT_OF_ORDER', `chunks of ${ref} resume after another disk's chunks`, header.name, offset)
      currentRef = ref
    }
    const last = progress.get(ref)
    const inOrder = last === undefined || index > last.index || (index === last.index && last.keepAlive)
    if (!inOrder)
      throw fail(
        'XVA_CHUNK_OUT_OF_ORDER',
        `chunk ${index} of ${ref} comes after chunk ${last!.index}`,
        header.name,
        offset,
        `an index above ${last!.index}`,
        index,
      )
    progress.set(ref, { index, keepAlive: data.length === 0 })
    pending = { name: header.name, ref, index, data, offset }
  }
  throw new Error('unreachable: readTar ends with an end item or an error')

  function missingHash(chunk: PendingChunk): XvaError {
    return fail(
      'XVA_MISSING_HASH',
      `chunk ${chunk.name} is not followed by its .xxhash entry, so it cannot be verified`,
      chunk.name,
      chunk.offset,
      `${chunk.name}.xxhash`,
    )
  }
}

function decompressionError(
  error: unknown,
  compression: XvaCompression,
  compressedBytes: number,
  source: XvaSource,
): XvaError {
  const truncated = isTruncationError(error)
  return new XvaError({
    code: truncated ? 'XVA_TRUNCATED' : 'XVA_BAD_COMPRESSION',
    problem: truncated
      ? `the ${compression} export was cut at byte ${compressedBytes} of the compressed stream; a complete XVA ends with a tar end marker`
      : `the ${compression} data is corrupt (${(error as Error).message})`,
    offset: compressedBytes,
    source: source.name,
    advice: xvaAdvice(source),
  })
}
