import type { SrModel, VhdNode } from './model'

/**
 * What the garbage collector would do next, from the tree alone (`cleanup.py`: `getAllPrunable`,
 * `isCoalesceable`, `isLeafCoalesceable`, tallest tree first). Space and switches are checked by the
 * caller, which knows the SR's free space and XAPI's records.
 */

/** Hidden nodes whose whole subtree is hidden: deleted outright. Children come before their parent. */
export function findGarbage(model: SrModel): VhdNode[] {
  const garbage: VhdNode[] = []
  const prunable = (node: VhdNode): boolean => {
    const children = model.children(node)
    let all = true
    for (const child of children) if (!prunable(child)) all = false
    if (all && node.hidden) {
      garbage.push(node)
      return true
    }
    return false
  }
  for (const node of model.allNodes()) if (node.parent === null) prunable(node)
  return garbage
}

/** A hidden node with children that is its parent's only child: merged into the parent. */
export function isCoalesceable(model: SrModel, node: VhdNode): boolean {
  const parent = model.parentOf(node)
  return parent !== undefined && node.hidden && model.children(node).length > 0 && model.children(parent).length === 1
}

/** A visible leaf that is its parent's only child: merged into the parent, which takes its uuid. */
export function isLeafCoalesceable(model: SrModel, node: VhdNode): boolean {
  const parent = model.parentOf(node)
  return (
    parent !== undefined &&
    !node.hidden &&
    !node.raw &&
    model.children(node).length === 0 &&
    model.children(parent).length === 1
  )
}

/** Non-leaf candidates, those in the tallest tree first (stable within a height). */
export function coalesceCandidates(model: SrModel): VhdNode[] {
  const candidates = [...model.allNodes()].filter((node) => isCoalesceable(model, node))
  const heights = new Map(candidates.map((node) => [node, model.height(model.root(node))]))
  return candidates.sort((a, b) => heights.get(b)! - heights.get(a)!)
}

export function leafCoalesceCandidates(model: SrModel): VhdNode[] {
  return [...model.allNodes()].filter((node) => isLeafCoalesceable(model, node))
}
