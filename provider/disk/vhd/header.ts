import { vhdChecksum } from './checksum'
import { HEADER_COOKIE, HEADER_OFFSET, HEADER_SIZE, HEADER_VERSION, SECTOR_SIZE } from './constants'
import { corruptAdvice, invalidArgument, VhdError, type VhdSource } from './errors'
import type { VhdFooter } from './footer'
import {
  decodeLocatorEntry,
  EMPTY_LOCATOR,
  encodeLocatorEntry,
  LOCATOR_ENTRY_SIZE,
  type ParentLocatorEntry,
} from './locators'
import { NIL_UUID, uuidFromBytes, uuidToBytes } from './uuid'

/** The 1024-byte dynamic disk header of dynamic and differencing disks. */
export interface VhdHeader {
  /** Absolute byte offset of the block allocation table. */
  tableOffset: number
  headerVersion: number
  /** Number of BAT entries. */
  maxTableEntries: number
  /** Bytes of data per block, a power of two (2 MiB for everything XenServer and XO write). */
  blockSize: number
  checksum: number
  /** Footer unique id of the parent VHD (differencing disks). */
  parentUniqueId: string
  /** Parent modification time, seconds since 2000-01-01 UTC. */
  parentTimestamp: number
  /** UTF-16BE in the file; XO stores the parent's path relative to this file's directory here and finds the parent with it. */
  parentUnicodeName: string
  /** Always 8 entries. */
  parentLocators: ParentLocatorEntry[]
}

export type HeaderInit = Omit<VhdHeader, 'checksum'>

const CHECKSUM_OFFSET = 36
const PARENT_NAME_OFFSET = 64
const PARENT_NAME_SIZE = 512
const LOCATORS_OFFSET = 576
export const LOCATOR_COUNT = 8

/** Offset of locator entry `i` inside the header. */
export const locatorEntryOffset = (i: number) => LOCATORS_OFFSET + i * LOCATOR_ENTRY_SIZE

export function newHeader(init: {
  currentSize: number
  blockSize: number
  tableOffset: number
  parentUniqueId?: string
  parentTimestamp?: number
  parentUnicodeName?: string
  parentLocators?: ParentLocatorEntry[]
}): HeaderInit {
  const locators = [...(init.parentLocators ?? [])]
  while (locators.length < LOCATOR_COUNT) locators.push(EMPTY_LOCATOR)
  return {
    tableOffset: init.tableOffset,
    headerVersion: HEADER_VERSION,
    maxTableEntries: Math.ceil(init.currentSize / init.blockSize),
    blockSize: init.blockSize,
    parentUniqueId: init.parentUniqueId ?? NIL_UUID,
    parentTimestamp: init.parentTimestamp ?? 0,
    parentUnicodeName: init.parentUnicodeName ?? '',
    parentLocators: locators,
  }
}

/** Encodes a header; bytes no field covers (reserved areas) are taken from `base` when given, else zero. */
export function encodeHeader(header: HeaderInit, base?: Uint8Array): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE)
  if (base !== undefined) buf.set(base.subarray(0, HEADER_SIZE))
  buf.write(HEADER_COOKIE, 0, 'latin1')
  buf.fill(0xff, 8, 16)
  buf.writeBigUInt64BE(BigInt(header.tableOffset), 16)
  buf.writeUInt32BE(header.headerVersion >>> 0, 24)
  buf.writeUInt32BE(header.maxTableEntries >>> 0, 28)
  buf.writeUInt32BE(header.blockSize >>> 0, 32)
  uuidToBytes(header.parentUniqueId, 'header.parentUniqueId').copy(buf, 40)
  buf.writeUInt32BE(header.parentTimestamp >>> 0, 56)
  buf.fill(0, PARENT_NAME_OFFSET, PARENT_NAME_OFFSET + PARENT_NAME_SIZE)
  const name = encodeUtf16be(header.parentUnicodeName)
  if (name.length > PARENT_NAME_SIZE) {
    throw invalidArgument(
      'parent name longer than 256 UTF-16 code units',
      'header.parentUnicodeName',
      header.parentUnicodeName,
    )
  }
  name.copy(buf, PARENT_NAME_OFFSET)
  if (header.parentLocators.length !== LOCATOR_COUNT) {
    throw invalidArgument(
      'a header has exactly 8 parent locator entries',
      'header.parentLocators',
      header.parentLocators.length,
      LOCATOR_COUNT,
    )
  }
  header.parentLocators.forEach((entry, i) => {
    encodeLocatorEntry(entry).copy(buf, locatorEntryOffset(i))
  })
  buf.writeUInt32BE(vhdChecksum(buf, CHECKSUM_OFFSET), CHECKSUM_OFFSET)
  return buf
}

/**
 * Decodes and validates the dynamic header with XO's rules (`unpackHeader`/`checkHeader`): cookie, checksum,
 * unused data offset, version, power-of-two block size, enough BAT entries for the virtual size; plus a
 * table offset that is sector aligned and after the header.
 */
export function decodeHeader(
  buf: Buffer,
  footer: VhdFooter,
  options: { source: VhdSource; offset?: number },
): VhdHeader {
  const offset = options.offset ?? HEADER_OFFSET
  const { source } = options
  const fail = (
    code: VhdError['code'],
    field: string,
    at: number,
    problem: string,
    expected: unknown,
    actual: unknown,
  ) =>
    new VhdError({
      code,
      problem,
      field: `header.${field}`,
      offset: offset + at,
      expected,
      actual,
      source: source.name,
      advice: corruptAdvice(source),
    })
  if (buf.length < HEADER_SIZE) {
    throw new VhdError({
      code: 'VHD_TRUNCATED',
      problem: 'the VHD ends inside its dynamic header',
      field: 'header',
      offset: offset + buf.length,
      expected: `${HEADER_SIZE} bytes`,
      actual: `${buf.length} bytes`,
      source: source.name,
      advice: corruptAdvice(source),
    })
  }
  const cookie = buf.toString('latin1', 0, 8)
  if (cookie !== HEADER_COOKIE)
    throw fail('VHD_BAD_COOKIE', 'cookie', 0, 'this is not a VHD dynamic header', HEADER_COOKIE, cookie)
  const checksum = buf.readUInt32BE(CHECKSUM_OFFSET)
  const computed = vhdChecksum(buf.subarray(0, HEADER_SIZE), CHECKSUM_OFFSET)
  if (checksum !== computed) {
    throw fail(
      'VHD_BAD_CHECKSUM',
      'checksum',
      CHECKSUM_OFFSET,
      'the header checksum is wrong, so the header is corrupt',
      hex(computed),
      hex(checksum),
    )
  }
  if (buf.readBigUInt64BE(8) !== 0xffffffffffffffffn) {
    throw fail(
      'VHD_BAD_DATA_OFFSET',
      'dataOffset',
      8,
      'the unused header data offset is set',
      '0xffffffffffffffff',
      buf.readBigUInt64BE(8),
    )
  }
  const headerVersion = buf.readUInt32BE(24)
  if (headerVersion !== HEADER_VERSION) {
    throw fail(
      'VHD_UNSUPPORTED_VERSION',
      'headerVersion',
      24,
      'unsupported dynamic header version',
      hex(HEADER_VERSION),
      hex(headerVersion),
    )
  }
  const blockSize = buf.readUInt32BE(32)
  if (blockSize < SECTOR_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw fail(
      'VHD_BAD_BLOCK_SIZE',
      'blockSize',
      32,
      'the block size is not a power of two of at least 512 bytes',
      'a power of two >= 512',
      blockSize,
    )
  }
  const rawTableOffset = buf.readBigUInt64BE(16)
  const minTableOffset = HEADER_OFFSET + HEADER_SIZE
  if (
    rawTableOffset < BigInt(minTableOffset) ||
    rawTableOffset > BigInt(Number.MAX_SAFE_INTEGER) ||
    rawTableOffset % 512n !== 0n
  ) {
    throw fail(
      'VHD_BAD_TABLE_OFFSET',
      'tableOffset',
      16,
      'the block allocation table offset is not a sector after the header',
      `a multiple of 512 >= ${minTableOffset}`,
      rawTableOffset,
    )
  }
  const maxTableEntries = buf.readUInt32BE(28)
  const needed = Math.ceil(footer.currentSize / blockSize)
  if (maxTableEntries < needed) {
    throw fail(
      'VHD_BAT_TOO_SMALL',
      'maxTableEntries',
      28,
      'the block allocation table has fewer entries than the virtual size needs',
      `at least ${needed}`,
      maxTableEntries,
    )
  }
  const parentLocators: ParentLocatorEntry[] = []
  for (let i = 0; i < LOCATOR_COUNT; i++) parentLocators.push(decodeLocatorEntry(buf, locatorEntryOffset(i)))
  return {
    tableOffset: Number(rawTableOffset),
    headerVersion,
    maxTableEntries,
    blockSize,
    checksum,
    parentUniqueId: uuidFromBytes(buf.subarray(40, 56)),
    parentTimestamp: buf.readUInt32BE(56),
    parentUnicodeName: decodeUtf16be(buf.subarray(PARENT_NAME_OFFSET, PARENT_NAME_OFFSET + PARENT_NAME_SIZE)),
    parentLocators,
  }
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`
}

export function encodeUtf16be(text: string): Buffer {
  return Buffer.from(text, 'utf16le').swap16()
}

/** UTF-16BE up to the first NUL code unit. */
export function decodeUtf16be(bytes: Uint8Array): string {
  const copy = Buffer.from(bytes.subarray(0, bytes.length - (bytes.length % 2))).swap16()
  return copy.toString('utf16le').replace(/\0.*$/s, '')
}
