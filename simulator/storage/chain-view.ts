import type { BlockFiles } from './block-files'
import { type BlockSource, mergeRanges, REAL } from './extent-map'
import type { SrModel, VhdNode } from './model'
import { BLOCK_SIZE } from './sizes'
import { syntheticBlock } from './synthetic'

/**
 * The merged view of a VHD chain (storage-semantics.md §1.8, §1.9): a block reads from the first node
 * from the leaf up that has it allocated, else as zeros; exports include the blocks allocated in the
 * chain (full) or in the symmetric difference of two chains (delta).
 */

export interface ResolvedBlock {
  node: VhdNode
  source: BlockSource
}

export function resolveBlock(model: SrModel, leaf: VhdNode, index: number): ResolvedBlock | null {
  for (const node of model.chain(leaf)) {
    const source = node.blocks.get(index)
    if (source !== undefined) return { node, source }
  }
  return null
}

/** The whole 2 MiB block as the chain shows it (a fresh buffer the caller may modify). */
export async function readMergedBlock(
  model: SrModel,
  files: BlockFiles,
  leaf: VhdNode,
  index: number,
): Promise<Buffer> {
  const resolved = resolveBlock(model, leaf, index)
  if (resolved === null) return Buffer.alloc(BLOCK_SIZE)
  if (resolved.source === REAL) return files.readBlock(resolved.node.vhd, index)
  return syntheticBlock(resolved.source, index)
}

/** Block indices in ascending order covered by `ranges`. */
export function* indicesOf(ranges: Iterable<{ start: number; end: number }>): IterableIterator<number> {
  for (const { start, end } of ranges) for (let i = start; i < end; i++) yield i
}

/** Allocated ranges of the union of `nodes`, clipped to `blocks`. */
export function allocatedRanges(nodes: Iterable<VhdNode>, blocks: number): Array<{ start: number; end: number }> {
  const ranges: Array<{ start: number; end: number }> = []
  for (const node of nodes) {
    for (const run of node.blocks.runs()) {
      if (run.start < blocks) ranges.push({ start: run.start, end: Math.min(run.end, blocks) })
    }
  }
  return mergeRanges(ranges)
}

/**
 * Blocks an export includes: allocated anywhere in the chain (full), or in any node of
 * chain(vdi) Δ chain(base) (delta, as vhd-tool's `relative_to`). With an unrelated base the
 * difference is both whole chains, which is still a correct delta, only larger.
 */
export function exportRanges(
  model: SrModel,
  leaf: VhdNode,
  base?: { model: SrModel; node: VhdNode },
): Array<{ start: number; end: number }> {
  const blocks = Math.ceil(leaf.virtualSize / BLOCK_SIZE)
  const chain = model.chain(leaf)
  if (base === undefined) return allocatedRanges(chain, blocks)
  const baseChain = base.model.chain(base.node)
  const inChain = new Set(chain)
  const inBase = new Set(baseChain)
  const difference = [...chain.filter((n) => !inBase.has(n)), ...baseChain.filter((n) => !inChain.has(n))]
  return allocatedRanges(difference, blocks)
}

export interface SourceRun {
  start: number
  end: number
  node: VhdNode
  source: BlockSource
}

/** The merged view as runs of one origin each (which node, stored bytes or which seed). */
export function resolvedRuns(model: SrModel, leaf: VhdNode): SourceRun[] {
  const chain = model.chain(leaf)
  const blocks = Math.ceil(leaf.virtualSize / BLOCK_SIZE)
  const cuts = new Set<number>()
  for (const node of chain) {
    for (const run of node.blocks.runs()) {
      cuts.add(Math.min(run.start, blocks))
      cuts.add(Math.min(run.end, blocks))
    }
  }
  const points = [...cuts].sort((a, b) => a - b)
  const runs: SourceRun[] = []
  for (let i = 0; i + 1 < points.length; i++) {
    const start = points[i]!
    const end = points[i + 1]!
    if (start >= end) continue
    // No node's run starts or ends inside (start, end): one lookup decides the whole segment.
    const resolved = resolveBlock(model, leaf, start)
    if (resolved === null) continue
    const last = runs[runs.length - 1]
    if (last !== undefined && last.end === start && last.node === resolved.node && last.source === resolved.source) {
      last.end = end
    } else {
      runs.push({ start, end, node: resolved.node, source: resolved.source })
    }
  }
  return runs
}
