import { growthForAllocation } from './accounting'
import { exportRanges, readMergedBlock, resolvedRuns } from './chain-view'
import { errors, smFailure } from './errors'
import { REAL } from './extent-map'
import type { SrModel, VdiEntry, VhdNode } from './model'
import { BLOCK_SIZE, blockCount, deflatedLvSize } from './sizes'
import { entryOf, nodeOf, type SrContext } from './sr-context'
import { isSyntheticSeed, syntheticLayout } from './synthetic'

/**
 * Reading and writing VDI contents (storage-semantics.md §1.8, §8.1): writes go to the leaf with
 * block-granular copy-on-write, reads see the merged chain, synthetic fills allocate without storing.
 */

/** Blocks allocated from a seed instead of stored bytes: a fraction of the disk, or explicit ranges. */
export type SyntheticFill =
  | { seed: number; fraction: number }
  | { seed: number; ranges: ReadonlyArray<{ start: number; end: number }> }

export interface BlockWrite {
  index: number
  data: Uint8Array
}

/** Where a run of the merged view comes from, for copies that keep synthetic blocks synthetic. */
export type ContentRun =
  | { start: number; end: number; kind: 'stored' }
  | { start: number; end: number; kind: 'synthetic'; seed: number }

export interface ByteWrite {
  offset: number
  data: Uint8Array
}

/** A VDI that accepts writes: managed, with data, not on an ISO SR. */
export function writable(ctx: SrContext, uuid: string): { node: VhdNode; entry: VdiEntry } {
  const entry = entryOf(ctx, uuid)
  const node = nodeOf(ctx, uuid, 'write')
  if (ctx.model.family === 'iso') throw errors.vdiReadOnly(uuid, 'ISO images are read-only')
  if (node.hidden) throw errors.vdiReadOnly(uuid, 'base copies are read-only')
  return { node, entry }
}

export function checkRange(uuid: string, size: number, offset: number, length: number): void {
  const valid = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0
  if (!valid || offset + length > size) {
    throw errors.vdiIoError(`bytes [${offset}, ${offset + length}) are outside VDI ${uuid} of ${size} bytes`)
  }
}

export function isZero(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) return false
  return true
}

export function unallocatedInChain(model: SrModel, node: VhdNode, index: number): boolean {
  return model.chain(node).every((n) => !n.blocks.has(index))
}

/** Splits byte writes into per-block pieces, in write order within each block. */
function piecesByBlock(uuid: string, size: number, writes: readonly ByteWrite[]) {
  const pieces = new Map<number, Array<{ inner: number; data: Uint8Array }>>()
  for (const { offset, data } of writes) {
    checkRange(uuid, size, offset, data.length)
    for (let position = offset; position < offset + data.length; ) {
      const index = Math.floor(position / BLOCK_SIZE)
      const inner = position - index * BLOCK_SIZE
      const take = Math.min(BLOCK_SIZE - inner, offset + data.length - position)
      let list = pieces.get(index)
      if (list === undefined) {
        list = []
        pieces.set(index, list)
      }
      list.push({ inner, data: data.subarray(position - offset, position - offset + take) })
      position += take
    }
  }
  return pieces
}

/**
 * Writes into a leaf. A block's first write copies up the block's merged content from the chain
 * (block-granular copy-on-write keeps every view exact), then overlays the new bytes. Returns
 * whether the metadata changed (new stored blocks). Fails with `VDI_IO_ERROR`, writing nothing,
 * when the SR has no room for the new blocks, as a full filesystem or VG would (44 while creating).
 */
export async function applyWrites(
  ctx: SrContext,
  node: VhdNode,
  entry: VdiEntry,
  writes: readonly ByteWrite[],
  creating = false,
): Promise<boolean> {
  const { model, files } = ctx
  const pieces = piecesByBlock(entry.uuid, node.virtualSize, writes)
  const indices = [...pieces.keys()].sort((a, b) => a - b)
  const added = indices.filter((index) => !node.blocks.has(index)).length
  const growth = growthForAllocation(model, node, added)
  if (growth > ctx.free()) {
    if (creating) throw smFailure(44, undefined, `the initial content needs ${growth} bytes`)
    throw errors.vdiIoError(`no space left on SR ${model.uuid} for ${added} new blocks of VDI ${entry.uuid}`)
  }
  let stored = false
  for (const index of indices) {
    const list = pieces.get(index)!
    if (node.blocks.get(index) === REAL) {
      for (const piece of list) await files.write(node.vhd, index, piece.inner, piece.data)
      continue
    }
    const first = list[0]!
    const whole = list.length === 1 && first.inner === 0 && first.data.length === BLOCK_SIZE
    const block = whole ? Buffer.from(first.data) : await readMergedBlock(model, files, node, index)
    if (!whole) for (const piece of list) block.set(piece.data, piece.inner)
    await files.write(node.vhd, index, 0, block)
    node.blocks.set(index, index + 1, REAL)
    stored = true
  }
  if (stored) {
    await files.sync(node.vhd)
    growLv(model, node)
  }
  if (entry.cbt !== null) {
    for (const { offset, data } of writes) await ctx.cbtFiles.mark(entry.cbt.log, offset, data.length)
  }
  return stored
}

/** LVHD: an LV grows to hold its VHD (a thin or deflated leaf being written). */
function growLv(model: SrModel, node: VhdNode): void {
  if (model.family === 'lvhd' && !node.raw) node.lvSize = Math.max(node.lvSize ?? 0, deflatedLvSize(node.blocks.count))
}

/** Allocates synthetic blocks in `node` (replacing what it held there); returns the ranges. */
export function applyFill(ctx: SrContext, node: VhdNode, fill: SyntheticFill): Array<{ start: number; end: number }> {
  if (!isSyntheticSeed(fill.seed)) {
    throw errors.invalidArgument('fill.seed', `${fill.seed} is not an unsigned 32-bit integer`)
  }
  const blocks = blockCount(node.virtualSize)
  const ranges = 'fraction' in fill ? syntheticLayout(fill.seed, blocks, fill.fraction) : [...fill.ranges]
  const probe = node.blocks.clone()
  for (const r of ranges) {
    const valid = Number.isInteger(r.start) && Number.isInteger(r.end) && r.start >= 0 && r.start <= r.end
    if (!valid || r.end > blocks) {
      throw errors.invalidArgument('fill.ranges', `[${r.start}, ${r.end}) is not within the disk's ${blocks} blocks`)
    }
    probe.set(r.start, r.end, fill.seed)
  }
  const added = probe.count - node.blocks.count
  if (growthForAllocation(ctx.model, node, added) > ctx.free()) {
    throw errors.vdiIoError(`no space left on SR ${ctx.model.uuid} for ${added} synthetic blocks of VDI ${node.vdi}`)
  }
  node.blocks = probe
  growLv(ctx.model, node)
  return ranges
}

/** Bytes `[offset, offset + length)` of the merged view. */
export async function readRange(ctx: SrContext, uuid: string, offset: number, length: number): Promise<Buffer> {
  const node = nodeOf(ctx, uuid, 'read')
  checkRange(uuid, node.virtualSize, offset, length)
  const out = Buffer.alloc(length)
  for (let position = offset; position < offset + length; ) {
    const index = Math.floor(position / BLOCK_SIZE)
    const inner = position - index * BLOCK_SIZE
    const take = Math.min(BLOCK_SIZE - inner, offset + length - position)
    const block = await readMergedBlock(ctx.model, ctx.files, node, index)
    block.copy(out, position - offset, inner, inner + take)
    position += take
  }
  return out
}

/** Block `index` of the merged view: 2 MiB, or less for the last block of an odd-sized image. */
export async function readBlockOf(ctx: SrContext, uuid: string, index: number): Promise<Buffer> {
  const node = nodeOf(ctx, uuid, 'readBlock')
  const blocks = blockCount(node.virtualSize)
  if (!Number.isInteger(index) || index < 0 || index >= blocks) {
    throw errors.invalidArgument('index', `block ${index} is outside VDI ${uuid} (${blocks} blocks)`)
  }
  const block = await readMergedBlock(ctx.model, ctx.files, node, index)
  const length = Math.min(BLOCK_SIZE, node.virtualSize - index * BLOCK_SIZE)
  return length === BLOCK_SIZE ? block : block.subarray(0, length)
}

/**
 * Export ranges of `uuid`, relative to `base` when given (a VDI of `baseModel`, possibly another SR).
 * A base whose data was destroyed: `VDI_INCOMPATIBLE_TYPE` (XAPI cannot attach it); a raw VDI or
 * base: `INTERNAL_ERROR` with vhd-tool's words.
 */
export function exportRangesFor(
  ctx: SrContext,
  uuid: string,
  base?: { model: SrModel; vdi: string },
): Array<{ start: number; end: number }> {
  const node = nodeOf(ctx, uuid, 'export')
  if (base === undefined) return exportRanges(ctx.model, node)
  if (base.model.vdi(base.vdi) === undefined) throw errors.uuidInvalid('VDI', base.vdi)
  const baseNode = base.model.nodeOf(base.vdi)
  if (baseNode === undefined) throw errors.vdiIncompatibleType(base.vdi, 'cbt_metadata')
  if (node.raw) throw errors.internal('Cannot compute differences on non-VHD images')
  if (baseNode.raw) throw errors.internal('base VDI is not a vhd; cannot compute differences')
  return exportRanges(ctx.model, node, { model: base.model, node: baseNode })
}

export function contentRunsOf(ctx: SrContext, uuid: string): ContentRun[] {
  const node = nodeOf(ctx, uuid, 'contentRuns')
  return resolvedRuns(ctx.model, node).map(
    (run): ContentRun =>
      run.source === REAL
        ? { start: run.start, end: run.end, kind: 'stored' }
        : { start: run.start, end: run.end, kind: 'synthetic', seed: run.source },
  )
}
