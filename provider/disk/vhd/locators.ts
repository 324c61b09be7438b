import { PlatformCode, SECTOR_SIZE } from './constants'
import { invalidArgument } from './errors'

/** One of the 8 parent locator entries of the dynamic header. */
export interface ParentLocatorEntry {
  platformCode: number
  /** Space reserved for the data. The spec says sectors; blktap and ocaml-vhd write bytes. See `locatorSpaceBytes`. */
  platformDataSpace: number
  /** Bytes of locator data. */
  platformDataLength: number
  /** Absolute byte offset of the locator data. */
  platformDataOffset: number
}

export const LOCATOR_ENTRY_SIZE = 24

export const EMPTY_LOCATOR: ParentLocatorEntry = Object.freeze({
  platformCode: PlatformCode.None,
  platformDataSpace: 0,
  platformDataLength: 0,
  platformDataOffset: 0,
})

export function encodeLocatorEntry(entry: ParentLocatorEntry): Buffer {
  const buf = Buffer.alloc(LOCATOR_ENTRY_SIZE)
  buf.writeUInt32BE(entry.platformCode >>> 0, 0)
  buf.writeUInt32BE(entry.platformDataSpace >>> 0, 4)
  buf.writeUInt32BE(entry.platformDataLength >>> 0, 8)
  buf.writeBigUInt64BE(BigInt(entry.platformDataOffset), 16)
  return buf
}

export function decodeLocatorEntry(buf: Buffer, at: number): ParentLocatorEntry {
  const offset = buf.readBigUInt64BE(at + 16)
  return {
    platformCode: buf.readUInt32BE(at),
    platformDataSpace: buf.readUInt32BE(at + 4),
    platformDataLength: buf.readUInt32BE(at + 8),
    platformDataOffset: offset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(offset),
  }
}

/**
 * Bytes reserved for a locator's data. Values below 512 are sectors (what the spec says and what XO
 * reads); multiples of 512 are bytes (what blktap and ocaml-vhd write). This is blktap's reading.
 */
export function locatorSpaceBytes(entry: ParentLocatorEntry): number {
  if (entry.platformDataSpace < SECTOR_SIZE) return entry.platformDataSpace * SECTOR_SIZE
  return entry.platformDataSpace % SECTOR_SIZE === 0 ? entry.platformDataSpace : 0
}

export const platformName = (code: number): string =>
  Object.entries(PlatformCode).find(([, value]) => value === code)?.[0] ?? `0x${code.toString(16)}`

/** True for the platform codes whose data is a path we can decode. */
export const isPathLocator = (code: number): boolean =>
  code === PlatformCode.MacX || code === PlatformCode.W2ru || code === PlatformCode.W2ku

/**
 * Locator data for a path relative to the child's directory, as blktap writes it:
 * W2ru = `.\` + path with backslashes in UTF-16LE; MacX = `file://./` + path in UTF-8.
 */
export function encodeRelativeLocator(code: number, relativePath: string): Buffer {
  const path = relativePath.replace(/^\.\//, '')
  if (path === '' || path.startsWith('/')) throw invalidArgument('not a relative path', 'relativePath', relativePath)
  if (code === PlatformCode.W2ru) return Buffer.from(`.\\${path.replaceAll('/', '\\')}`, 'utf16le')
  if (code === PlatformCode.MacX) return Buffer.from(`file://./${path}`, 'utf8')
  throw invalidArgument('relative locators are W2ru or MacX', 'platformCode', platformName(code))
}

/** The path stored in a locator's data, with `/` separators (`./` prefix removed for relative paths). */
export function decodeLocatorPath(code: number, data: Uint8Array): string | undefined {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length)
  let text: string
  if (code === PlatformCode.MacX) {
    text = bytes.toString('utf8').replace(/\0+$/, '')
    text = text.replace(/^file:\/\//, '')
  } else if (code === PlatformCode.W2ru || code === PlatformCode.W2ku) {
    text = bytes
      .subarray(0, bytes.length - (bytes.length % 2))
      .toString('utf16le')
      .replace(/\0+$/, '')
    text = text.replaceAll('\\', '/')
  } else {
    return undefined
  }
  return text.replace(/^\.\//, '') || undefined
}
