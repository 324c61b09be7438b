import type { Readable } from 'node:stream'
import { ByteReader } from '../byte-reader'
import type { RandomAccessFile } from '../io'
import { isZero } from '../zero'
import { encodeBat } from './bat'
import { fullBitmap } from './bitmap'
import { BLOCK_UNUSED, DEFAULT_BLOCK_SIZE, DiskType, SECTOR_SIZE, XAPI_TABLE_OFFSET } from './constants'
import { invalidArgument } from './errors'
import { encodeFooter, newFooter } from './footer'
import { encodeHeader, newHeader } from './header'
import { blockGeometry } from './layout'
import { createVhdStream } from './stream-writer'

export interface RawDiskOptions {
  virtualSize: number
  /** Footer unique id of the new VHD. */
  uuid: string
  blockSize?: number
  /** Footer timestamp, seconds since 2000-01-01 UTC. */
  timestamp?: number
  creatorApplication?: string
}

export interface RawBlockSource extends RawDiskOptions {
  /** Bytes [index * blockSize, (index + 1) * blockSize) of the raw disk; the last block may be shorter. */
  readBlock(index: number): Promise<Uint8Array>
  /** Blocks that may hold data, ascending, when the caller knows them (e.g. from a sparse file map); others are zero. */
  candidateBlocks?: readonly number[]
}

/**
 * A dynamic VHD stream (XAPI layout) of a raw disk read block by block, without its all-zero blocks.
 * The BAT comes before the data, so this reads every candidate block once to find the zero ones and once
 * more to send it; memory stays at one block.
 */
export async function createVhdStreamFromRawBlocks(source: RawBlockSource): Promise<Readable> {
  const blockSize = source.blockSize ?? DEFAULT_BLOCK_SIZE
  const entries = Math.ceil(source.virtualSize / blockSize)
  const candidates = source.candidateBlocks ?? Array.from({ length: entries }, (_, i) => i)
  const blocks: number[] = []
  for (const index of candidates) {
    if (!isZero(await source.readBlock(index))) blocks.push(index)
  }
  return createVhdStream({
    virtualSize: source.virtualSize,
    diskType: 'dynamic',
    uuid: source.uuid,
    blocks,
    readBlock: (index) => source.readBlock(index),
    blockSize,
    timestamp: source.timestamp,
    creatorApplication: source.creatorApplication,
  })
}

/**
 * Writes a dynamic VHD file from a raw disk stream in one pass, skipping all-zero blocks: blocks are appended
 * as they arrive and the BAT is written at the end, then the trailing footer last, so an interrupted write
 * never leaves a file whose two footers match. Returns the indices of the blocks written.
 */
export async function writeVhdFileFromRawStream(
  raw: AsyncIterable<Uint8Array>,
  file: RandomAccessFile,
  options: RawDiskOptions,
): Promise<number[]> {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE
  const { virtualSize } = options
  if (!Number.isSafeInteger(virtualSize) || virtualSize <= 0 || virtualSize % SECTOR_SIZE !== 0) {
    throw invalidArgument('virtual size must be a positive multiple of 512', 'virtualSize', virtualSize)
  }
  const entries = Math.ceil(virtualSize / blockSize)
  const bat = new Uint32Array(entries).fill(BLOCK_UNUSED)
  const footer = encodeFooter(
    newFooter({
      currentSize: virtualSize,
      diskType: DiskType.Dynamic,
      uniqueId: options.uuid,
      timestamp: options.timestamp ?? 0,
      creatorApplication: options.creatorApplication ?? 'caml',
    }),
  )
  const header = encodeHeader(newHeader({ currentSize: virtualSize, blockSize, tableOffset: XAPI_TABLE_OFFSET }))
  const batBuffer = encodeBat(bat)
  await file.truncate(0)
  await file.write(0, footer)
  await file.write(footer.length, header)
  await file.write(XAPI_TABLE_OFFSET, batBuffer)
  const { blockTotalBytes } = blockGeometry(blockSize)
  const bitmap = fullBitmap(blockSize)
  let next = XAPI_TABLE_OFFSET + batBuffer.length
  const written: number[] = []
  const reader = new ByteReader(raw)
  try {
    for (let index = 0; index < entries; index++) {
      const want = Math.min(blockSize, virtualSize - index * blockSize)
      const data = await reader.read(want)
      if (data.length < want) {
        throw invalidArgument(
          'the raw stream is shorter than the virtual size',
          'raw',
          index * blockSize + data.length,
          virtualSize,
        )
      }
      if (isZero(data)) continue
      await file.write(next, bitmap)
      await file.write(next + bitmap.length, data)
      if (data.length < blockSize) await file.write(next + bitmap.length + blockSize - 1, Buffer.alloc(1))
      bat[index] = next / SECTOR_SIZE
      written.push(index)
      next += blockTotalBytes
    }
    if (!(await reader.atEnd())) {
      throw invalidArgument(
        'the raw stream is longer than the virtual size',
        'raw',
        `more than ${virtualSize} bytes`,
        virtualSize,
      )
    }
  } finally {
    await reader.close()
  }
  await file.write(XAPI_TABLE_OFFSET, encodeBat(bat))
  await file.sync()
  await file.write(next, footer)
  await file.sync()
  return written
}
