import { z } from 'zod'
import type { RandomAccessFile } from '../io'
import { batBytes } from './bat'
import { isFull, setRuns } from './bitmap'
import { assertParentOf } from './chain'
import { FOOTER_SIZE, PlatformCode, SECTOR_SIZE } from './constants'
import { VhdError } from './errors'
import type { FooterInit } from './footer'
import { locatorSpaceBytes } from './locators'
import { VhdFile } from './vhd-file'

/** Progress of a merge; persist it and pass it back as `from` to resume an interrupted merge. */
export const MergeCheckpointSchema = z.object({
  /** Child blocks with a lower index are merged durably. */
  nextBlock: z.number().int().nonnegative(),
  /** Child blocks merged so far. */
  mergedBlocks: z.number().int().nonnegative(),
  /** Bytes of child sectors copied into the parent so far. */
  mergedBytes: z.number().int().nonnegative(),
  /** Blocks allocated in the child: the merge's total work. */
  totalBlocks: z.number().int().nonnegative(),
})
export type MergeCheckpoint = z.infer<typeof MergeCheckpointSchema>

export interface MergeOptions {
  /** Resume an interrupted merge from a checkpoint it reported (or from `{ nextBlock }` alone). */
  from?: MergeCheckpoint
  /** Called each time a batch of blocks is durable in the parent (after `sync`). */
  onCheckpoint?: (checkpoint: MergeCheckpoint) => void | Promise<void>
  /** Blocks per durable step (default 16, i.e. 32 MiB with 2 MiB blocks). */
  blocksPerCheckpoint?: number
}

/**
 * Merges a differencing child into its parent in place (XO's model): only the child's allocated blocks are
 * visited, sector by sector (the child's set sectors win, the parent's other sectors stay), the parent grows
 * to the child's virtual size (relocating the first blocks if its BAT must grow), and at the end the parent
 * takes the child's footer uuid, current size and timestamp, so the child's children chain to it.
 *
 * Crash safety: the parent stays a valid VHD whose view under the child is unchanged at every point.
 * Writes go in this order: trailing footer moved past new data first, then block data, `sync`, then the BAT
 * entries, `sync`. The only exception is the last step, where the two footer copies are updated one after
 * the other (trailing first); re-running the merge finishes that step. Re-running from any checkpoint (or
 * from the start) gives the same bytes.
 */
export async function mergeVhd(parent: VhdFile, child: VhdFile, options: MergeOptions = {}): Promise<MergeCheckpoint> {
  const childEntries = Math.ceil(child.virtualSize / child.header.blockSize)
  const blocks = child.allocatedBlocks().filter((index) => index < childEntries)
  const from = options.from !== undefined ? MergeCheckpointSchema.parse(options.from) : undefined
  const nextBlock = from?.nextBlock ?? 0
  let checkpoint: MergeCheckpoint = {
    nextBlock,
    mergedBlocks: from?.mergedBlocks ?? 0,
    mergedBytes: from?.mergedBytes ?? 0,
    totalBlocks: blocks.length,
  }
  const finalFooter = mergedFooter(parent, child)
  if (parent.uuid === child.uuid) {
    // an earlier run completed the final step: nothing left to do
    if (!parent.trailingFooter.equals(parent.leadingFooter)) await finishFooters(parent, finalFooter)
    return { ...checkpoint, nextBlock: childEntries, mergedBlocks: blocks.length }
  }
  assertParentOf(parent, child)

  await growParent(parent, childEntries)
  await options.onCheckpoint?.(checkpoint)

  const batchSize = Math.max(1, options.blocksPerCheckpoint ?? 16)
  const pending = blocks.filter((index) => index >= nextBlock)
  for (let i = 0; i < pending.length; i += batchSize) {
    const batch = pending.slice(i, i + batchSize)
    const mergedBytes = await mergeBatch(parent, child, batch)
    checkpoint = {
      nextBlock: batch[batch.length - 1]! + 1,
      mergedBlocks: checkpoint.mergedBlocks + batch.length,
      mergedBytes: checkpoint.mergedBytes + mergedBytes,
      totalBlocks: blocks.length,
    }
    await options.onCheckpoint?.(checkpoint)
  }

  await dropTail(parent)
  await finishFooters(parent, finalFooter)
  return { ...checkpoint, nextBlock: Math.max(checkpoint.nextBlock, childEntries) }
}

/**
 * Opens both files and merges (see `mergeVhd`). Also finishes a merge interrupted between its two final
 * footer writes: the parent then ends with the merged footer, which is accepted only if it is exactly the
 * footer this merge would write.
 */
export async function mergeVhdFiles(
  parentFile: RandomAccessFile,
  childFile: RandomAccessFile,
  options: MergeOptions & { parentName?: string; childName?: string } = {},
): Promise<MergeCheckpoint> {
  const child = await VhdFile.open(childFile, { name: options.childName })
  const parent = await VhdFile.open(parentFile, { name: options.parentName, tolerateFooterMismatch: true })
  if (!parent.trailingFooter.equals(parent.leadingFooter)) {
    const expected = parent.encodeFooter(mergedFooter(parent, child))
    if (!parent.trailingFooter.equals(expected)) {
      // not our interrupted final step: report the mismatch as any open would
      await VhdFile.open(parentFile, { name: options.parentName })
    }
    await finishFooters(parent, mergedFooter(parent, child))
  }
  return mergeVhd(parent, child, options)
}

/** The parent's footer once the child is merged into it. */
function mergedFooter(parent: VhdFile, child: VhdFile): FooterInit {
  const currentSize = child.virtualSize
  return {
    ...parent.footer,
    uniqueId: child.uuid,
    currentSize,
    originalSize: Math.min(parent.footer.originalSize, currentSize),
    timestamp: child.footer.timestamp,
    geometry: child.footer.geometry,
  }
}

/** Copies one batch of child blocks into the parent, then makes their BAT entries durable. */
async function mergeBatch(parent: VhdFile, child: VhdFile, batch: number[]): Promise<number> {
  const { bitmapSize, blockSize, blockTotalBytes, sectorsPerBlock } = parent.geometry
  const fresh = batch.filter((index) => !parent.hasBlock(index))
  const base = parent.endOfData()
  const slots = new Map(fresh.map((index, k) => [index, base + k * blockTotalBytes]))
  if (fresh.length > 0) await moveTrailingFooterPast(parent, base + fresh.length * blockTotalBytes)
  let written = 0
  for (const index of batch) {
    const block = (await child.readBlock(index))!
    const full = isFull(block.bitmap, sectorsPerBlock)
    const slot = slots.get(index)
    if (slot !== undefined) {
      // a new block: the child's sectors, zeros elsewhere (a dynamic parent reads unset sectors as zeros)
      await parent.writeAt(slot, full ? block.raw : masked(block.raw, bitmapSize, sectorsPerBlock))
      written += full ? blockSize : countSet(block.bitmap, sectorsPerBlock) * SECTOR_SIZE
      continue
    }
    const at = parent.batEntry(index) * SECTOR_SIZE
    if (full) {
      await parent.writeAt(at, block.raw)
      written += blockSize
      continue
    }
    for (const [start, end] of setRuns(block.bitmap, sectorsPerBlock)) {
      await parent.writeAt(
        at + bitmapSize + start * SECTOR_SIZE,
        block.data.subarray(start * SECTOR_SIZE, end * SECTOR_SIZE),
      )
      written += (end - start) * SECTOR_SIZE
    }
    const bitmap = (await parent.readBitmap(index))!
    for (let b = 0; b < bitmapSize; b++) bitmap[b]! |= block.bitmap[b]!
    await parent.writeAt(at, bitmap)
  }
  await parent.sync()
  if (fresh.length > 0) {
    await parent.setBatEntries(fresh.map((index) => [index, slots.get(index)! / SECTOR_SIZE] as const))
    await parent.sync()
  }
  return written
}

/** Grows the parent's BAT to `entries`, first moving blocks and locator data out of the bytes it grows into. */
async function growParent(parent: VhdFile, entries: number): Promise<void> {
  if (parent.header.maxTableEntries >= entries) return
  const { tableOffset } = parent.header
  const oldEnd = tableOffset + batBytes(parent.header.maxTableEntries)
  const newEnd = tableOffset + batBytes(entries)
  const { blockTotalBytes } = parent.geometry
  const overlaps = (start: number, end: number) => start < newEnd && end > oldEnd

  const inTheWay = parent
    .allocatedBlocks()
    .filter((index) => {
      const start = parent.batEntry(index) * SECTOR_SIZE
      return overlaps(start, start + blockTotalBytes)
    })
    .sort((a, b) => parent.batEntry(a) - parent.batEntry(b))
  for (const index of inTheWay) {
    const target = Math.max(parent.endOfData(), newEnd)
    await moveTrailingFooterPast(parent, target + blockTotalBytes)
    const block = (await parent.readBlock(index))!
    await parent.writeAt(target, block.raw)
    await parent.sync()
    await parent.setBatEntries([[index, target / SECTOR_SIZE]])
    await parent.sync()
  }

  for (const [slot, entry] of parent.header.parentLocators.entries()) {
    if (entry.platformCode === PlatformCode.None || entry.platformDataLength === 0) continue
    const length = Math.max(entry.platformDataLength, locatorSpaceBytes(entry))
    const space = Math.ceil(length / SECTOR_SIZE) * SECTOR_SIZE
    if (!overlaps(entry.platformDataOffset, entry.platformDataOffset + space)) continue
    const target = Math.max(parent.endOfData(), newEnd)
    await moveTrailingFooterPast(parent, target + space)
    const data = await parent.file.read(entry.platformDataOffset, space)
    await parent.writeAt(target, data)
    await parent.sync()
    const parentLocators = parent.header.parentLocators.map((e, i) =>
      i === slot ? { ...e, platformDataOffset: target } : e,
    )
    await parent.writeHeader({ ...parent.header, parentLocators })
    await parent.sync()
  }

  await parent.growBat(entries)
  await parent.sync()
}

/** Makes sure the trailing footer sits at or after `end`, writing a copy there first if the file must grow. */
async function moveTrailingFooterPast(parent: VhdFile, end: number): Promise<void> {
  if (parent.fileSize - FOOTER_SIZE >= end) return
  await parent.writeTrailingFooter(parent.leadingFooter, end)
  await parent.sync()
}

/**
 * Drops unreferenced bytes between the data and the trailing footer (left by an interrupted run, or by
 * a batch allocating fewer blocks on resume), so every run ends with the same file: a footer copy goes
 * right after the data first, then the file is cut after it.
 */
async function dropTail(parent: VhdFile): Promise<void> {
  const end = parent.endOfData()
  if (parent.fileSize === end + FOOTER_SIZE) return
  if (parent.fileSize < end + FOOTER_SIZE) {
    throw new VhdError({
      code: 'VHD_TRUNCATED',
      problem: 'the parent is shorter than its data during a merge',
      offset: parent.fileSize,
      expected: end + FOOTER_SIZE,
      actual: parent.fileSize,
      source: parent.name,
      advice: 'The parent file was changed by something else during the merge; restore it from a copy.',
    })
  }
  await parent.writeAt(end, parent.leadingFooter)
  await parent.sync()
  await parent.truncate(end + FOOTER_SIZE)
  parent.trailingFooter = parent.leadingFooter
  await parent.sync()
}

/** The final step: the merged footer at the end, then at offset 0. */
async function finishFooters(parent: VhdFile, footer: FooterInit): Promise<void> {
  const bytes = parent.encodeFooter(footer)
  if (!parent.trailingFooter.equals(bytes)) {
    await parent.writeTrailingFooter(bytes, parent.fileSize - FOOTER_SIZE)
    await parent.sync()
  }
  await parent.writeLeadingFooter(bytes)
  await parent.sync()
}

/** Block bytes with the data of unset sectors zeroed. */
function masked(raw: Buffer, bitmapSize: number, sectorsPerBlock: number): Buffer {
  const out = Buffer.alloc(raw.length)
  raw.copy(out, 0, 0, bitmapSize)
  for (const [start, end] of setRuns(raw.subarray(0, bitmapSize), sectorsPerBlock)) {
    raw.copy(out, bitmapSize + start * SECTOR_SIZE, bitmapSize + start * SECTOR_SIZE, bitmapSize + end * SECTOR_SIZE)
  }
  return out
}

function countSet(bitmap: Uint8Array, sectors: number): number {
  let n = 0
  for (const [start, end] of setRuns(bitmap, sectors)) n += end - start
  return n
}
