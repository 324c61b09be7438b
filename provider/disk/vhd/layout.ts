import { batBytes, blocksInFileOrder } from './bat'
import { bitmapBytes } from './bitmap'
import { FOOTER_SIZE, HEADER_OFFSET, HEADER_SIZE, PlatformCode, SECTOR_SIZE } from './constants'
import { corruptAdvice, VhdError, type VhdSource } from './errors'
import type { VhdHeader } from './header'
import { locatorSpaceBytes } from './locators'

/** Sizes derived from a header that every reader and writer needs. */
export interface BlockGeometry {
  blockSize: number
  sectorsPerBlock: number
  bitmapSize: number
  /** Bitmap + data: the bytes one allocated block takes in the file. */
  blockTotalBytes: number
}

export function blockGeometry(blockSize: number): BlockGeometry {
  const bitmapSize = bitmapBytes(blockSize)
  return { blockSize, sectorsPerBlock: blockSize / SECTOR_SIZE, bitmapSize, blockTotalBytes: bitmapSize + blockSize }
}

interface Region {
  start: number
  end: number
  what: string
}

/** Byte ranges used by metadata: the footer copy and header, the BAT, and locator data in use. */
export function metadataRegions(header: VhdHeader): Region[] {
  const regions: Region[] = [
    { start: 0, end: HEADER_OFFSET + HEADER_SIZE, what: 'the footer copy and header' },
    { start: header.tableOffset, end: header.tableOffset + batBytes(header.maxTableEntries), what: 'the BAT' },
  ]
  header.parentLocators.forEach((entry, i) => {
    if (entry.platformCode === PlatformCode.None || entry.platformDataLength === 0) return
    const space = locatorSpaceBytes(entry)
    const length = space > 0 ? Math.min(space, entry.platformDataLength) : entry.platformDataLength
    const end = entry.platformDataOffset + Math.ceil(length / SECTOR_SIZE) * SECTOR_SIZE
    regions.push({ start: entry.platformDataOffset, end, what: `parent locator ${i} data` })
  })
  return regions
}

/** First byte after all metadata and blocks: where a new block or the trailing footer goes. */
export function endOfData(header: VhdHeader, bat: Uint32Array): number {
  const { blockTotalBytes } = blockGeometry(header.blockSize)
  let end = Math.max(...metadataRegions(header).map((r) => r.end))
  for (const entry of bat) {
    if (entry !== 0xffffffff) end = Math.max(end, entry * SECTOR_SIZE + blockTotalBytes)
  }
  return Math.ceil(end / SECTOR_SIZE) * SECTOR_SIZE
}

/**
 * Checks that allocated blocks neither overlap metadata nor each other, and, when the file size is known,
 * that each lies before the trailing footer. Returns block indices in file order.
 */
export function checkBlockLayout(
  header: VhdHeader,
  bat: Uint32Array,
  options: { source: VhdSource; fileSize?: number },
): number[] {
  const { source } = options
  const { blockTotalBytes } = blockGeometry(header.blockSize)
  const order = blocksInFileOrder(bat)
  const regions = metadataRegions(header)
  const entryOffset = (index: number) => header.tableOffset + index * 4
  let previous: { index: number; end: number } | undefined
  for (const index of order) {
    const start = bat[index]! * SECTOR_SIZE
    const end = start + blockTotalBytes
    for (const region of regions) {
      if (start < region.end && end > region.start) {
        throw new VhdError({
          code: 'VHD_BAT_ENTRY_IN_METADATA',
          problem: `the BAT entry of block ${index} points into ${region.what}`,
          field: `bat[${index}]`,
          offset: entryOffset(index),
          expected: `a block outside bytes ${region.start}..${region.end - 1}`,
          actual: `sector ${bat[index]} (byte ${start})`,
          source: source.name,
          advice: corruptAdvice(source),
        })
      }
    }
    if (options.fileSize !== undefined && end > options.fileSize - FOOTER_SIZE) {
      throw new VhdError({
        code: 'VHD_BAT_ENTRY_PAST_END',
        problem: `the BAT entry of block ${index} points past the end of the file (block bytes ${start}..${end - 1}, trailing footer at ${options.fileSize - FOOTER_SIZE})`,
        field: `bat[${index}]`,
        offset: entryOffset(index),
        expected: `a block ending by byte ${options.fileSize - FOOTER_SIZE}`,
        actual: `sector ${bat[index]} (block ends at byte ${end})`,
        source: source.name,
        advice: `The file is probably truncated. ${corruptAdvice(source)}`,
      })
    }
    if (previous !== undefined && start < previous.end) {
      throw new VhdError({
        code: 'VHD_BLOCKS_OVERLAP',
        problem: `blocks ${previous.index} and ${index} overlap (two BAT entries share bytes ${start}..${previous.end - 1})`,
        field: `bat[${index}]`,
        offset: entryOffset(index),
        expected: `a block starting at or after byte ${previous.end}`,
        actual: `byte ${start}`,
        source: source.name,
        advice: corruptAdvice(source),
      })
    }
    previous = { index, end }
  }
  return order
}
