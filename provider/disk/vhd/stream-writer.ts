import { Readable } from 'node:stream'
import { batBytes, encodeBat } from './bat'
import { fullBitmap } from './bitmap'
import {
  BLOCK_UNUSED,
  DEFAULT_BLOCK_SIZE,
  DiskType,
  FOOTER_SIZE,
  LOCATOR_SECTOR_OFFSET,
  PlatformCode,
  SECTOR_SIZE,
  XAPI_TABLE_OFFSET,
} from './constants'
import { invalidArgument } from './errors'
import { encodeFooter, newFooter } from './footer'
import { encodeHeader, newHeader } from './header'
import { blockGeometry } from './layout'
import type { ParentLocatorEntry } from './locators'

export interface VhdStreamParent {
  /** Footer unique id of the base VHD. */
  uuid: string
  /** Base file modification time, seconds since 2000-01-01 UTC. */
  timestamp: number
  /** Base path, stored as the parent unicode name and in a MacX locator entry (XAPI never writes its data). */
  name: string
}

export interface VhdStreamSpec {
  /** Virtual size in bytes, a multiple of 512. */
  virtualSize: number
  diskType: 'dynamic' | 'differencing'
  /** Footer unique id. XAPI puts a fresh random uuid here. */
  uuid: string
  /** Required for differencing disks, forbidden for dynamic ones. */
  parent?: VhdStreamParent
  /** Indices of the blocks present in the stream, strictly ascending. */
  blocks: readonly number[]
  /** Data of one block as seen through the VDI's whole chain; shorter buffers are zero-padded to the block size. */
  readBlock(index: number): Promise<Uint8Array>
  /** Defaults to 2 MiB, the only size XAPI writes. */
  blockSize?: number
  /** Footer timestamp (seconds since 2000-01-01 UTC); XAPI exports carry 0. */
  timestamp?: number
  /** Footer creator application; XAPI exports carry `caml` (ocaml-vhd). */
  creatorApplication?: string
}

/**
 * The bytes of a VHD export exactly as XAPI lays them out (`/export_raw_vdi?format=vhd[&base=]`):
 * footer, header at 512 with table offset 2048, a zero sector at 1536, the BAT at 2048 padded to a sector,
 * then each block in ascending index as an all-0xFF sector bitmap plus the full block, then the footer again.
 * Holds one block at a time; reading is driven by the consumer.
 */
export async function* vhdStreamChunks(spec: VhdStreamSpec): AsyncGenerator<Buffer> {
  const { footer, header, bat } = exportMetadata(spec)
  const { blockSize } = header
  yield footer
  yield header.bytes
  yield Buffer.alloc(SECTOR_SIZE)
  yield encodeBat(bat)
  const bitmap = fullBitmap(blockSize)
  for (const index of spec.blocks) {
    const data = await spec.readBlock(index)
    if (data.length > blockSize) {
      throw invalidArgument(
        `readBlock(${index}) returned more than one block`,
        'readBlock',
        data.length,
        `at most ${blockSize} bytes`,
      )
    }
    yield bitmap
    yield padBlock(data, blockSize)
  }
  yield footer
}

/** A Node byte stream of `vhdStreamChunks(spec)`, with backpressure. */
export function createVhdStream(spec: VhdStreamSpec): Readable {
  // validate now, so bad arguments throw here rather than as a stream error
  exportMetadata(spec)
  return Readable.from(vhdStreamChunks(spec), { objectMode: false, highWaterMark: 64 * 1024 })
}

/** Total length of the stream `createVhdStream(spec)` produces (for a Content-Length). */
export function vhdStreamLength(spec: Pick<VhdStreamSpec, 'virtualSize' | 'blocks' | 'blockSize'>): number {
  const blockSize = spec.blockSize ?? DEFAULT_BLOCK_SIZE
  const entries = Math.ceil(spec.virtualSize / blockSize)
  return (
    XAPI_TABLE_OFFSET + batBytes(entries) + spec.blocks.length * blockGeometry(blockSize).blockTotalBytes + FOOTER_SIZE
  )
}

function exportMetadata(spec: VhdStreamSpec): {
  footer: Buffer
  header: { bytes: Buffer; blockSize: number }
  bat: Uint32Array
} {
  const blockSize = spec.blockSize ?? DEFAULT_BLOCK_SIZE
  if (!Number.isSafeInteger(blockSize) || blockSize < SECTOR_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw invalidArgument('block size must be a power of two of at least 512', 'blockSize', blockSize)
  }
  const { virtualSize } = spec
  if (!Number.isSafeInteger(virtualSize) || virtualSize <= 0 || virtualSize % SECTOR_SIZE !== 0) {
    throw invalidArgument('virtual size must be a positive multiple of 512', 'virtualSize', virtualSize)
  }
  const differencing = spec.diskType === 'differencing'
  if (differencing !== (spec.parent !== undefined)) {
    throw invalidArgument(
      'a differencing disk needs a parent and a dynamic disk must not have one',
      'parent',
      spec.parent === undefined ? 'none' : 'given',
      differencing ? 'given' : 'none',
    )
  }
  const entries = Math.ceil(virtualSize / blockSize)
  const { blockTotalBytes } = blockGeometry(blockSize)
  const firstBlock = XAPI_TABLE_OFFSET + batBytes(entries)
  const bat = new Uint32Array(entries).fill(BLOCK_UNUSED)
  let previous = -1
  spec.blocks.forEach((index, position) => {
    if (!Number.isInteger(index) || index <= previous || index >= entries) {
      throw invalidArgument(
        'block indices must be strictly ascending and inside the disk',
        `blocks[${position}]`,
        index,
        `an integer in ${previous + 1}..${entries - 1}`,
      )
    }
    const sector = (firstBlock + position * blockTotalBytes) / SECTOR_SIZE
    if (sector > 0xfffffffe)
      throw invalidArgument('the VHD would exceed the 2 TiB a BAT can address', 'blocks', spec.blocks.length)
    bat[index] = sector
    previous = index
  })
  const footer = encodeFooter(
    newFooter({
      currentSize: virtualSize,
      diskType: differencing ? DiskType.Differencing : DiskType.Dynamic,
      uniqueId: spec.uuid,
      timestamp: spec.timestamp ?? 0,
      creatorApplication: spec.creatorApplication ?? 'caml',
    }),
  )
  const parent = spec.parent
  const locators: ParentLocatorEntry[] = []
  if (parent !== undefined) {
    locators.push({
      platformCode: PlatformCode.MacX,
      platformDataSpace: SECTOR_SIZE,
      platformDataLength: Buffer.byteLength(`file://${parent.name}`, 'utf8'),
      platformDataOffset: LOCATOR_SECTOR_OFFSET,
    })
  }
  const header = encodeHeader(
    newHeader({
      currentSize: virtualSize,
      blockSize,
      tableOffset: XAPI_TABLE_OFFSET,
      parentUniqueId: parent?.uuid,
      parentTimestamp: parent?.timestamp,
      parentUnicodeName: parent?.name,
      parentLocators: locators,
    }),
  )
  return { footer, header: { bytes: header, blockSize }, bat }
}

export function padBlock(data: Uint8Array, blockSize: number): Buffer {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length)
  if (buf.length === blockSize) return buf
  const padded = Buffer.alloc(blockSize)
  buf.copy(padded)
  return padded
}
