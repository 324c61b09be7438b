import { vhdChecksum } from './checksum'
import {
  DiskType,
  FEATURES_RESERVED,
  FILE_FORMAT_VERSION,
  FOOTER_COOKIE,
  FOOTER_SIZE,
  HEADER_OFFSET,
  SECTOR_SIZE,
} from './constants'
import { corruptAdvice, invalidArgument, VhdError, type VhdSource } from './errors'
import { type Geometry, geometryForSize } from './geometry'
import { uuidFromBytes, uuidToBytes } from './uuid'

/** The 512-byte hard disk footer (also copied at offset 0 of dynamic and differencing disks). */
export interface VhdFooter {
  features: number
  fileFormatVersion: number
  /** Offset of the dynamic header; `undefined` for fixed disks (stored as all ones). */
  dataOffset: number | undefined
  /** Seconds since 2000-01-01 UTC. */
  timestamp: number
  /** 4 ASCII characters, e.g. `caml` (XAPI exports), `tap\0` (blktap), `qemu`. */
  creatorApplication: string
  creatorVersion: number
  creatorHostOs: number
  originalSize: number
  /** The virtual size of the disk in bytes. */
  currentSize: number
  geometry: Geometry
  diskType: DiskType
  checksum: number
  /** Identity of this VHD; XO stores the VDI (snapshot) uuid here and children point to it. */
  uniqueId: string
  savedState: number
  /** blktap extension in the reserved area: 1 = hidden base copy. */
  hidden: number
}

export type FooterInit = Omit<VhdFooter, 'checksum'>

const FooterField = {
  cookie: [0, 8],
  features: [8, 4],
  fileFormatVersion: [12, 4],
  dataOffset: [16, 8],
  timestamp: [24, 4],
  creatorApplication: [28, 4],
  creatorVersion: [32, 4],
  creatorHostOs: [36, 4],
  originalSize: [40, 8],
  currentSize: [48, 8],
  geometry: [56, 4],
  diskType: [60, 4],
  checksum: [64, 4],
  uniqueId: [68, 16],
  savedState: [84, 1],
  hidden: [85, 1],
  reserved: [86, 426],
} as const

const CHECKSUM_OFFSET = FooterField.checksum[0]

/** Name of the footer field holding byte `index` of the footer, for error messages. */
export function footerFieldAt(index: number): string {
  for (const [name, [start, size]] of Object.entries(FooterField)) {
    if (index >= start && index < start + size) return `footer.${name}`
  }
  return 'footer'
}

/** A footer for a new dynamic or differencing disk with the usual values. */
export function newFooter(init: {
  currentSize: number
  diskType: DiskType
  uniqueId: string
  timestamp?: number
  creatorApplication?: string
  creatorVersion?: number
  creatorHostOs?: number
}): FooterInit {
  return {
    features: FEATURES_RESERVED,
    fileFormatVersion: FILE_FORMAT_VERSION,
    dataOffset: init.diskType === DiskType.Fixed ? undefined : HEADER_OFFSET,
    timestamp: init.timestamp ?? 0,
    creatorApplication: init.creatorApplication ?? 'caml',
    creatorVersion: init.creatorVersion ?? 1,
    creatorHostOs: init.creatorHostOs ?? 0,
    originalSize: init.currentSize,
    currentSize: init.currentSize,
    geometry: geometryForSize(init.currentSize),
    diskType: init.diskType,
    uniqueId: init.uniqueId,
    savedState: 0,
    hidden: 0,
  }
}

/** Encodes a footer; bytes no field covers (the reserved area) are taken from `base` when given, else zero. */
export function encodeFooter(footer: FooterInit, base?: Uint8Array): Buffer {
  const buf = Buffer.alloc(FOOTER_SIZE)
  if (base !== undefined) buf.set(base.subarray(0, FOOTER_SIZE))
  buf.write(FOOTER_COOKIE, 0, 'latin1')
  buf.writeUInt32BE(footer.features >>> 0, 8)
  buf.writeUInt32BE(footer.fileFormatVersion >>> 0, 12)
  if (footer.dataOffset === undefined) buf.fill(0xff, 16, 24)
  else buf.writeBigUInt64BE(BigInt(footer.dataOffset), 16)
  buf.writeUInt32BE(footer.timestamp >>> 0, 24)
  const creator = Buffer.from(footer.creatorApplication, 'latin1')
  if (creator.length !== 4)
    throw invalidArgument(
      'creator application must be 4 characters',
      'footer.creatorApplication',
      footer.creatorApplication,
    )
  creator.copy(buf, 28)
  buf.writeUInt32BE(footer.creatorVersion >>> 0, 32)
  buf.writeUInt32BE(footer.creatorHostOs >>> 0, 36)
  buf.writeBigUInt64BE(BigInt(footer.originalSize), 40)
  buf.writeBigUInt64BE(BigInt(footer.currentSize), 48)
  buf.writeUInt16BE(footer.geometry.cylinders, 56)
  buf.writeUInt8(footer.geometry.heads, 58)
  buf.writeUInt8(footer.geometry.sectorsPerTrack, 59)
  buf.writeUInt32BE(footer.diskType, 60)
  uuidToBytes(footer.uniqueId, 'footer.uniqueId').copy(buf, 68)
  buf.writeUInt8(footer.savedState, 84)
  buf.writeUInt8(footer.hidden, 85)
  buf.writeUInt32BE(vhdChecksum(buf, CHECKSUM_OFFSET), CHECKSUM_OFFSET)
  return buf
}

export interface DecodeOptions {
  /** Where the structure sits in the file or stream, for error offsets. */
  offset: number
  source: VhdSource
  /** Accept fixed disks (type 2). XO only accepts dynamic and differencing disks. */
  allowFixed?: boolean
}

/** Decodes and validates a footer with the rules XO applies (`checkFooter`) plus checksum and size checks. */
export function decodeFooter(buf: Buffer, options: DecodeOptions): VhdFooter {
  const { offset, source } = options
  const fail = (
    code: VhdError['code'],
    field: keyof typeof FooterField,
    problem: string,
    expected: unknown,
    actual: unknown,
  ) =>
    new VhdError({
      code,
      problem,
      field: `footer.${field}`,
      offset: offset + FooterField[field][0],
      expected,
      actual,
      source: source.name,
      advice: corruptAdvice(source),
    })
  if (buf.length < FOOTER_SIZE) {
    throw new VhdError({
      code: 'VHD_TRUNCATED',
      problem: 'the VHD ends inside its footer',
      field: 'footer',
      offset: offset + buf.length,
      expected: `${FOOTER_SIZE} bytes`,
      actual: `${buf.length} bytes`,
      source: source.name,
      advice: corruptAdvice(source),
    })
  }
  const cookie = buf.toString('latin1', 0, 8)
  if (cookie !== FOOTER_COOKIE) {
    throw fail('VHD_BAD_COOKIE', 'cookie', 'this is not a VHD footer', FOOTER_COOKIE, cookie)
  }
  const checksum = buf.readUInt32BE(CHECKSUM_OFFSET)
  const computed = vhdChecksum(buf.subarray(0, FOOTER_SIZE), CHECKSUM_OFFSET)
  if (checksum !== computed) {
    throw fail(
      'VHD_BAD_CHECKSUM',
      'checksum',
      'the footer checksum is wrong, so the footer is corrupt',
      hex32(computed),
      hex32(checksum),
    )
  }
  const fileFormatVersion = buf.readUInt32BE(12)
  if (fileFormatVersion !== FILE_FORMAT_VERSION) {
    throw fail(
      'VHD_UNSUPPORTED_VERSION',
      'fileFormatVersion',
      'unsupported VHD file format version',
      hex32(FILE_FORMAT_VERSION),
      hex32(fileFormatVersion),
    )
  }
  const diskType = buf.readUInt32BE(60)
  const acceptedTypes: number[] = options.allowFixed
    ? [DiskType.Fixed, DiskType.Dynamic, DiskType.Differencing]
    : [DiskType.Dynamic, DiskType.Differencing]
  if (!acceptedTypes.includes(diskType)) {
    throw fail(
      'VHD_UNSUPPORTED_DISK_TYPE',
      'diskType',
      'unsupported disk type (only dynamic = 3 and differencing = 4 are backups)',
      acceptedTypes.join(' or '),
      diskType,
    )
  }
  const rawDataOffset = buf.readBigUInt64BE(16)
  const dataOffset = rawDataOffset === 0xffffffffffffffffn ? undefined : Number(rawDataOffset)
  const expectedDataOffset = diskType === DiskType.Fixed ? undefined : HEADER_OFFSET
  if (dataOffset !== expectedDataOffset) {
    throw fail(
      'VHD_BAD_DATA_OFFSET',
      'dataOffset',
      'the footer does not point to the dynamic header where it must be',
      expectedDataOffset ?? 'none (all ones)',
      dataOffset ?? 'none (all ones)',
    )
  }
  const originalSize = readSize(buf, 40)
  const currentSize = readSize(buf, 48)
  if (currentSize === undefined || currentSize % SECTOR_SIZE !== 0) {
    throw fail(
      'VHD_BAD_SIZE',
      'currentSize',
      'the virtual size is not a whole number of sectors',
      'a multiple of 512 below 2^53',
      buf.readBigUInt64BE(48),
    )
  }
  if (originalSize === undefined || originalSize > currentSize) {
    throw fail(
      'VHD_BAD_SIZE',
      'originalSize',
      'the original size is larger than the current size',
      `at most ${currentSize}`,
      buf.readBigUInt64BE(40),
    )
  }
  return {
    features: buf.readUInt32BE(8),
    fileFormatVersion,
    dataOffset,
    timestamp: buf.readUInt32BE(24),
    creatorApplication: buf.toString('latin1', 28, 32),
    creatorVersion: buf.readUInt32BE(32),
    creatorHostOs: buf.readUInt32BE(36),
    originalSize,
    currentSize,
    geometry: { cylinders: buf.readUInt16BE(56), heads: buf.readUInt8(58), sectorsPerTrack: buf.readUInt8(59) },
    diskType: diskType as DiskType,
    checksum,
    uniqueId: uuidFromBytes(buf.subarray(68, 84)),
    savedState: buf.readUInt8(84),
    hidden: buf.readUInt8(85),
  }
}

function readSize(buf: Buffer, at: number): number | undefined {
  const value = buf.readBigUInt64BE(at)
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(value)
}

export function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`
}

/** First byte at which two footers differ, or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/**
 * XO's "Expected values to be strictly equal", explained. Names the first differing field other than the
 * checksum (which differs whenever anything else does).
 */
export function footerMismatch(offset: number, leading: Buffer, trailing: Buffer, source: VhdSource): VhdError {
  const withoutChecksum = (b: Buffer) => Buffer.concat([b.subarray(0, 64), Buffer.alloc(4), b.subarray(68)])
  const difference = firstDifference(withoutChecksum(leading), withoutChecksum(trailing))
  const at = difference === -1 ? 64 : difference
  const field = footerFieldAt(at)
  return new VhdError({
    code: 'VHD_FOOTER_MISMATCH',
    problem:
      `the footer at the end (byte ${offset}) is not byte-identical to the footer copy at byte 0 ` +
      `(they first differ in ${field}); Xen Orchestra reports this as "Expected values to be strictly equal". ` +
      'The VHD is incomplete: the data stopped before the real end, typically a partial export where the host stopped sending part-way through the disk',
    field,
    offset: offset + at,
    expected: leading.subarray(at, at + 8),
    actual: trailing.subarray(at, at + 8),
    source: source.name,
    advice: corruptAdvice(source),
  })
}
