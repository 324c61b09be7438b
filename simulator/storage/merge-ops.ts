import { REAL } from './extent-map'
import type { VhdNode } from './model'
import { deflatedLvSize, inflatedLvSize } from './sizes'
import { attachedReadWrite, type SrContext, type SrTransaction } from './sr-context'

/**
 * The GC's tree changes (`cleanup.py`): merging a child into its parent (child wins, children
 * re-pointed, child forgotten), leaf-coalesce (the parent takes the leaf's uuid), garbage deletion.
 */

/** Copies the child's stored blocks into the parent's file and gives the parent the child's map. */
async function mergeData(ctx: SrContext, child: VhdNode, parent: VhdNode): Promise<void> {
  let stored = false
  for (const run of child.blocks.runs()) {
    if (run.source !== REAL) continue
    for (let index = run.start; index < run.end; index++) {
      await ctx.files.write(parent.vhd, index, 0, await ctx.files.readBlock(child.vhd, index))
      stored = true
    }
  }
  // The parent's rewritten blocks are shadowed by its only child until the commit: crash-safe.
  if (stored) await ctx.files.sync(parent.vhd)
  parent.blocks.overlay(child.blocks)
  parent.virtualSize = Math.max(parent.virtualSize, child.virtualSize)
}

/** Non-leaf coalesce; LVHD deflates the parent afterwards. */
export async function mergeIntoParent(ctx: SrContext, tx: SrTransaction, child: VhdNode): Promise<void> {
  const model = ctx.model
  const parent = model.parentOf(child)!
  await mergeData(ctx, child, parent)
  for (const grandchild of model.children(child)) model.setParent(grandchild, parent)
  model.removeNode(child)
  model.removeVdi(child.vdi)
  if (model.family === 'lvhd' && !parent.raw) parent.lvSize = deflatedLvSize(parent.blocks.count)
  tx.afterCommit(() => ctx.files.remove(child.vhd))
  tx.changed()
}

/**
 * `_doCoalesceLeaf`: the parent takes the leaf's data and uuid, the parent's old uuid is forgotten.
 * LVHD inflates the result unless it is a detached snapshot (`_finishCoalesceLeaf`).
 */
export async function mergeLeafIntoParent(ctx: SrContext, tx: SrTransaction, leaf: VhdNode): Promise<void> {
  const model = ctx.model
  const parent = model.parentOf(leaf)!
  const vdi = leaf.vdi
  const oldBase = parent.vdi
  await mergeData(ctx, leaf, parent)
  model.removeNode(leaf)
  model.setVdi(parent, vdi)
  parent.hidden = false
  model.removeVdi(oldBase)
  if (model.family === 'lvhd') {
    const inflate = !ctx.record(vdi).isASnapshot || attachedReadWrite(model.vdi(vdi)!)
    parent.lvSize = inflate ? inflatedLvSize(parent.virtualSize) : deflatedLvSize(parent.blocks.count)
  }
  tx.afterCommit(() => ctx.files.remove(leaf.vhd))
  tx.changed()
}

export function deleteGarbage(ctx: SrContext, tx: SrTransaction, node: VhdNode): void {
  ctx.model.removeNode(node)
  ctx.model.removeVdi(node.vdi)
  tx.afterCommit(() => ctx.files.remove(node.vhd))
  tx.changed()
}
