import { ByteReader } from '../byte-reader'
import { XvaError, type XvaSource, xvaAdvice } from './errors'

/** A minimal ustar reader and writer: what XVA needs (regular files with short names), streamed. */

export const TAR_BLOCK = 512
/** The end-of-archive marker: two zero blocks. */
export const TAR_END = Buffer.alloc(2 * TAR_BLOCK)
const MAX_OCTAL_SIZE = 0o77777777777

export interface TarHeaderInit {
  name: string
  size: number
  /** Default 0o644. */
  mode?: number
  /** Seconds since the Unix epoch; default 0. */
  mtime?: number
}

function writeOctal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1')
}

/** A ustar header block for a regular file. */
export function encodeTarHeader(init: TarHeaderInit): Buffer {
  const name = Buffer.from(init.name, 'utf8')
  if (name.length === 0 || name.length > 100) {
    throw new XvaError({
      code: 'XVA_INVALID_ARGUMENT',
      problem: 'tar entry names must be 1 to 100 bytes',
      field: init.name,
      actual: name.length,
      advice: 'This is a bug in the caller: use a shorter entry name.',
    })
  }
  if (!Number.isSafeInteger(init.size) || init.size < 0 || init.size > MAX_OCTAL_SIZE) {
    throw new XvaError({
      code: 'XVA_INVALID_ARGUMENT',
      problem: 'tar entry size out of range',
      field: init.name,
      actual: init.size,
      expected: `0..${MAX_OCTAL_SIZE}`,
      advice: 'This is a bug in the caller.',
    })
  }
  const buf = Buffer.alloc(TAR_BLOCK)
  name.copy(buf, 0)
  writeOctal(buf, init.mode ?? 0o644, 100, 8)
  writeOctal(buf, 0, 108, 8)
  writeOctal(buf, 0, 116, 8)
  writeOctal(buf, init.size, 124, 12)
  writeOctal(buf, Math.floor(init.mtime ?? 0), 136, 12)
  buf.write('0', 156, 'latin1')
  buf.write('ustar\u000000', 257, 'latin1')
  buf.fill(0x20, 148, 156)
  const sum = buf.reduce((total, byte) => total + byte, 0)
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
  return buf
}

/** Zero bytes that pad an entry of `size` bytes to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK
  return Buffer.alloc(rest === 0 ? 0 : TAR_BLOCK - rest)
}

/** Header, data and padding of one entry. */
export function* tarEntry(name: string, data: Uint8Array, options: { mtime?: number } = {}): Generator<Buffer> {
  yield encodeTarHeader({ name, size: data.length, mtime: options.mtime })
  if (data.length > 0) yield Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length)
  const padding = tarPadding(data.length)
  if (padding.length > 0) yield padding
}

export interface TarHeader {
  name: string
  size: number
  /** Type flag: `0` regular file, `5` directory, `x` pax header... */
  type: string
  mode: number
  mtime: number
}

const isZeroBlock = (block: Uint8Array) => block.every((b) => b === 0)

function readNumber(block: Buffer, offset: number, width: number): number | undefined {
  if ((block[offset]! & 0x80) !== 0) {
    // GNU base-256 for large values
    let value = 0
    for (let i = offset + 1; i < offset + width; i++) value = value * 256 + block[i]!
    return value
  }
  const text = block
    .toString('latin1', offset, offset + width)
    .replace(/[\0 ]+$/, '')
    .trim()
  if (text === '') return 0
  return /^[0-7]+$/.test(text) ? Number.parseInt(text, 8) : undefined
}

/**
 * Decodes one header block. Verifies its checksum (unsigned sum, or the signed sum some old tars wrote).
 * Returns `undefined` for a zero block.
 */
export function decodeTarHeader(block: Buffer, offset: number, source: XvaSource): TarHeader | undefined {
  if (isZeroBlock(block)) return undefined
  const stored = readNumber(block, 148, 8)
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < TAR_BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!
    unsigned += byte
    signed += byte > 127 ? byte - 256 : byte
  }
  if (stored !== unsigned && stored !== signed) {
    throw new XvaError({
      code: 'XVA_BAD_TAR_CHECKSUM',
      problem: 'a tar header checksum is wrong, so the header is corrupt',
      field: `tar header ${JSON.stringify(block.toString('latin1', 0, 100).replace(/\0.*$/s, ''))}`,
      offset: offset + 148,
      expected: unsigned.toString(8),
      actual: stored === undefined ? block.toString('latin1', 148, 156) : stored.toString(8),
      source: source.name,
      advice: xvaAdvice(source),
    })
  }
  const size = readNumber(block, 124, 12)
  if (size === undefined) {
    throw new XvaError({
      code: 'XVA_BAD_TAR_HEADER',
      problem: 'a tar header has an unreadable size',
      offset: offset + 124,
      actual: block.toString('latin1', 124, 136),
      source: source.name,
      advice: xvaAdvice(source),
    })
  }
  const name = block.toString('utf8', 0, 100).replace(/\0.*$/s, '')
  const magic = block.toString('latin1', 257, 263)
  const prefix = magic.startsWith('ustar') ? block.toString('utf8', 345, 500).replace(/\0.*$/s, '') : ''
  return {
    name: prefix === '' ? name : `${prefix}/${name}`,
    size,
    type: block[156] === 0 ? '0' : String.fromCharCode(block[156]!),
    mode: readNumber(block, 100, 8) ?? 0,
    mtime: readNumber(block, 136, 12) ?? 0,
  }
}

export type TarItem =
  /** `offset`: where the entry's header starts. */
  | { type: 'entry'; header: TarHeader; offset: number; data: Buffer }
  /** `offset`: where the end marker starts. */
  | { type: 'end'; offset: number }

/**
 * Reads a tar stream entry by entry, holding one entry's data at a time (at most `maxEntrySize` bytes).
 * Applies pax `path`/`size` records and GNU long names to the entry that follows them.
 */
export async function* readTar(
  stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { source: XvaSource; maxEntrySize: number },
): AsyncGenerator<TarItem> {
  const { source } = options
  const reader = new ByteReader(stream)
  const cut = (what: string, entry?: string) =>
    new XvaError({
      code: 'XVA_TRUNCATED',
      problem: `the export was cut at byte ${reader.position} (${what}); a complete XVA ends with a tar end marker`,
      field: entry,
      offset: reader.position,
      source: source.name,
      advice: xvaAdvice(source),
    })
  let override: { name?: string; size?: number } = {}
  try {
    for (;;) {
      const offset = reader.position
      const block = await reader.read(TAR_BLOCK)
      if (block.length < TAR_BLOCK)
        throw cut(block.length === 0 ? 'no more entries and no end marker' : 'inside a tar header')
      const decoded = decodeTarHeader(block, offset, source)
      if (decoded === undefined) {
        const second = await reader.read(TAR_BLOCK)
        if (second.length < TAR_BLOCK) throw cut('inside the end marker')
        if (!isZeroBlock(second)) {
          throw new XvaError({
            code: 'XVA_BAD_TAR_HEADER',
            problem: 'a single zero block sits between tar entries',
            offset,
            source: source.name,
            advice: xvaAdvice(source),
          })
        }
        yield { type: 'end', offset }
        return
      }
      const header = { ...decoded, name: override.name ?? decoded.name, size: override.size ?? decoded.size }
      override = {}
      if (header.size > options.maxEntrySize) {
        throw new XvaError({
          code: 'XVA_ENTRY_TOO_LARGE',
          problem: 'a tar entry is larger than an XVA entry can be',
          field: header.name,
          offset,
          expected: `at most ${options.maxEntrySize} bytes`,
          actual: header.size,
          source: source.name,
          advice: xvaAdvice(source),
        })
      }
      const data = await reader.read(header.size)
      if (data.length < header.size) throw cut(`inside the data of ${header.name}`, header.name)
      const padding = tarPadding(header.size).length
      if ((await reader.skip(padding)) < padding) throw cut(`inside the padding of ${header.name}`, header.name)
      if (header.type === 'x') override = paxOverrides(data)
      else if (header.type === 'L') override = { name: data.toString('utf8').replace(/\0.*$/s, '') }
      else if (header.type !== 'g') yield { type: 'entry', header, offset, data }
    }
  } finally {
    await reader.close()
  }
}

function paxOverrides(data: Buffer): { name?: string; size?: number } {
  const result: { name?: string; size?: number } = {}
  for (const record of data.toString('utf8').split('\n')) {
    const match = /^\d+ ([^=]+)=(.*)$/s.exec(record)
    if (match?.[1] === 'path') result.name = match[2]
    if (match?.[1] === 'size') result.size = Number(match[2])
  }
  return result
}
