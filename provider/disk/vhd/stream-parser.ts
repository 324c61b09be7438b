import { ByteReader } from '../byte-reader'
import { batBytes, decodeBat } from './bat'
import { FOOTER_SIZE, HEADER_SIZE, SECTOR_SIZE } from './constants'
import { corruptAdvice, streamSource, VhdError, type VhdSource } from './errors'
import { decodeFooter, footerMismatch, type VhdFooter } from './footer'
import { decodeHeader, type VhdHeader } from './header'
import { blockGeometry, checkBlockLayout } from './layout'

export type VhdStreamItem =
  | { type: 'footer'; footer: VhdFooter; raw: Buffer }
  | { type: 'header'; header: VhdHeader; raw: Buffer }
  /** `blocks`: allocated block indices in the order their data follows in the stream. */
  | { type: 'bat'; bat: Uint32Array; blocks: number[]; raw: Buffer; offset: number }
  /** `data` is the whole block as stored (block size bytes, even past the virtual size). */
  | { type: 'block'; index: number; offset: number; bitmap: Buffer; data: Buffer }
  /** Bytes no structure refers to (e.g. the free sector at 1536); only with `includeGaps`. */
  | { type: 'gap'; offset: number; data: Buffer }
  /** The trailing footer was byte-identical to the leading one and the stream ended right after it. */
  | { type: 'end'; length: number; raw: Buffer }

export interface ParseVhdStreamOptions {
  /** Name of the stream for error messages, e.g. `export of VDI <uuid>`. */
  name?: string
  /** Also yield the unreferenced bytes, so that every byte of the stream is in some item (used by the rewrite). */
  includeGaps?: boolean
}

const GAP_CHUNK = 1024 * 1024

/**
 * Reads a VHD stream sequentially with bounded memory (one block), validating as it goes, and yields its
 * structures then each block in file order (BAT entries sorted by offset, unreferenced bytes skipped).
 * Validates cookies, checksums, data offsets, versions, block size, that blocks neither overlap each other
 * nor the metadata, that the stream is complete, and that the trailing footer equals the leading one.
 * Every problem is a `VhdError`; a consumer storing the stream must discard what it wrote when one is thrown.
 */
export async function* parseVhdStream(
  stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ParseVhdStreamOptions = {},
): AsyncGenerator<VhdStreamItem> {
  const source = streamSource(options.name)
  const reader = new ByteReader(stream)
  const truncated = (what: string, expectedBytes: number, got: number) =>
    new VhdError({
      code: 'VHD_TRUNCATED',
      problem: `the stream ended at byte ${reader.position} while reading ${what}: it was cut before the end`,
      field: what,
      offset: reader.position,
      expected: `${expectedBytes} more bytes`,
      actual: `${got} bytes`,
      source: source.name,
      advice: corruptAdvice(source),
    })
  try {
    const rawFooter = await reader.read(FOOTER_SIZE)
    if (rawFooter.length < FOOTER_SIZE) throw truncated('footer', FOOTER_SIZE, rawFooter.length)
    if (rawFooter.toString('latin1', 0, 5) === 'HTTP/') throw httpErrorInBody(rawFooter, source)
    const footer = decodeFooter(rawFooter, { offset: 0, source })
    yield { type: 'footer', footer, raw: rawFooter }

    const rawHeader = await reader.read(HEADER_SIZE)
    if (rawHeader.length < HEADER_SIZE) throw truncated('header', HEADER_SIZE, rawHeader.length)
    const header = decodeHeader(rawHeader, footer, { source, offset: FOOTER_SIZE })
    yield { type: 'header', header, raw: rawHeader }

    yield* passGap(reader, header.tableOffset, options, () => truncated('BAT', header.tableOffset - reader.position, 0))

    const batLength = batBytes(header.maxTableEntries)
    const rawBat = await reader.read(batLength)
    if (rawBat.length < batLength) throw truncated('BAT', batLength, rawBat.length)
    const bat = decodeBat(rawBat, header.maxTableEntries)
    const order = checkBlockLayout(header, bat, { source })
    yield { type: 'bat', bat, blocks: order, raw: rawBat, offset: header.tableOffset }

    const { bitmapSize, blockSize, blockTotalBytes } = blockGeometry(header.blockSize)
    for (const index of order) {
      const start = bat[index]! * SECTOR_SIZE
      if (start < reader.position) throw notStreamable(index, start, reader.position, header, source)
      yield* passGap(reader, start, options, () =>
        truncated(`block[${index}]`, start - reader.position + blockTotalBytes, 0),
      )
      // bitmap and data separately: writers send them as separate chunks, so neither read copies
      const bitmap = await reader.read(bitmapSize)
      const data = bitmap.length < bitmapSize ? Buffer.alloc(0) : await reader.read(blockSize)
      if (data.length < blockSize) {
        throw truncated(`block[${index}]`, blockTotalBytes - bitmap.length - data.length, bitmap.length + data.length)
      }
      yield { type: 'block', index, offset: start, bitmap, data }
    }

    // The trailing footer is the last 512 bytes; anything between the last block and it is unreferenced.
    let tail = await reader.read(FOOTER_SIZE)
    if (tail.length < FOOTER_SIZE) {
      throw truncated('footer (trailing)', FOOTER_SIZE - tail.length, tail.length)
    }
    while (!(await reader.atEnd())) {
      const gapOffset = reader.position - FOOTER_SIZE
      const combined = Buffer.concat([tail, await reader.read(GAP_CHUNK)])
      tail = combined.subarray(combined.length - FOOTER_SIZE)
      if (options.includeGaps)
        yield { type: 'gap', offset: gapOffset, data: combined.subarray(0, combined.length - FOOTER_SIZE) }
    }
    if (!rawFooter.equals(tail)) throw footerMismatch(reader.position - FOOTER_SIZE, rawFooter, tail, source)
    yield { type: 'end', length: reader.position, raw: tail }
  } finally {
    await reader.close()
  }
}

async function* passGap(
  reader: ByteReader,
  until: number,
  options: ParseVhdStreamOptions,
  onEnd: () => VhdError,
): AsyncGenerator<VhdStreamItem> {
  while (reader.position < until) {
    const offset = reader.position
    const want = Math.min(GAP_CHUNK, until - offset)
    if (options.includeGaps) {
      const data = await reader.read(want)
      if (data.length < want) throw onEnd()
      yield { type: 'gap', offset, data }
    } else if ((await reader.skip(want)) < want) {
      throw onEnd()
    }
  }
}

function notStreamable(index: number, start: number, position: number, header: VhdHeader, source: VhdSource): VhdError {
  return new VhdError({
    code: 'VHD_NOT_STREAMABLE',
    problem: `block ${index} is stored before the end of the BAT, where a sequential reader cannot go back to`,
    field: `bat[${index}]`,
    offset: header.tableOffset + index * 4,
    expected: `a block at or after byte ${position}`,
    actual: `byte ${start}`,
    source: source.name,
    advice: 'Send the VHD in export layout (BAT before the blocks), or read it as a file instead of a stream.',
  })
}

function httpErrorInBody(raw: Buffer, source: VhdSource): VhdError {
  const statusLine = raw.toString('latin1').split('\r\n')[0] ?? ''
  return new VhdError({
    code: 'VHD_BAD_COOKIE',
    problem: `the export body starts with an HTTP response ("${statusLine}") instead of a VHD: the host failed the export after sending its 200 status (a known XAPI behaviour)`,
    field: 'footer.cookie',
    offset: 0,
    expected: 'conectix',
    actual: raw.toString('latin1', 0, 8),
    source: source.name,
    advice: `${corruptAdvice(source)} The host's task log says why the export failed.`,
  })
}
