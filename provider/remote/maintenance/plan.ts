import type { CleanVmWarning, PendingAction, RemovedFile } from './report'
import type { Lineage } from './vdi-directory'

/**
 * What to do with one VDI directory once it is known which VHDs complete backups use ("active"):
 * a pure decision, executed by clean-vm.
 *
 * - A VHD is *used* when it is active, protected, or the parent of a used VHD through a valid link.
 * - Unused VHDs (and files that are not VHDs) are deleted: no backup can need them.
 * - An unused-by-itself VHD with exactly one used child is merged into it (the child's blocks go into
 *   the parent, which then takes the child's name). Other children of it must be gone first, so a
 *   merge never changes the view of a disk that is kept.
 * - A VHD with several used children is the base of several branches that backups still use: it
 *   is kept as it is and reported (XO stops cleaning the whole directory in that case).
 */

export interface PlannedMerge {
  parent: string
  child: string
  /** Disks below the parent, so that merges run from the root up. */
  depth: number
}

export interface LineagePlan {
  deletions: RemovedFile[]
  merges: PlannedMerge[]
  /** Merges that must wait (children to remove first while removal is off). */
  pending: PendingAction[]
  warnings: CleanVmWarning[]
}

export interface PlanInput {
  lineage: Lineage
  /** VHDs referenced by complete backups. */
  active: ReadonlySet<string>
  /** VHDs that must stay whatever happens (named by metadata we cannot read, part of a merge we cannot resume). */
  protectedPaths: ReadonlySet<string>
  /** Metadata files using each active VHD, for messages. */
  usersOf: ReadonlyMap<string, string[]>
  remove: boolean
}

export function planLineage(input: PlanInput): LineagePlan {
  const { lineage, active, protectedPaths } = input
  const plan: LineagePlan = { deletions: [], merges: [], pending: [], warnings: [] }
  const memo = new Map<string, boolean>()
  const used = (path: string, seen: Set<string> = new Set()): boolean => {
    const known = memo.get(path)
    if (known !== undefined) return known
    if (active.has(path) || protectedPaths.has(path)) return true
    if (seen.has(path)) return false
    seen.add(path)
    const result = lineage.linkedChildren(path).some((child) => used(child, seen))
    memo.set(path, result)
    return result
  }

  const depth = (path: string) => lineage.chain(path).length
  const { vhds, invalid } = lineage.directory
  for (const [path, file] of invalid) {
    if (!used(path)) plan.deletions.push({ path, reason: `not a valid VHD and no backup uses it (${file.reason})` })
  }
  const unused = [...vhds.keys()].filter((path) => !used(path)).sort((a, b) => depth(b) - depth(a))
  for (const path of unused) {
    const broken = lineage.brokenReason(path)
    plan.deletions.push({
      path,
      reason:
        broken === undefined
          ? 'no complete backup uses it, nor any disk above it'
          : `no complete backup uses it, and it cannot be read (${broken})`,
    })
  }

  for (const path of vhds.keys()) {
    if (active.has(path) || protectedPaths.has(path) || !used(path)) continue
    if (lineage.brokenReason(path) !== undefined) continue
    const usedChildren = lineage.linkedChildren(path).filter((child) => used(child))
    if (usedChildren.length > 1) {
      plan.warnings.push(multipleChildren(path, usedChildren, input))
      continue
    }
    const child = usedChildren[0]
    if (child === undefined) continue
    const others = lineage.children(path).filter((other) => other !== child)
    if (others.length > 0 && !input.remove) {
      plan.pending.push({
        action: 'merge',
        paths: [path, child],
        reason: `${path} also has the unused children ${others.join(', ')}, which must be removed before it can be merged into ${child}`,
      })
      continue
    }
    plan.merges.push({ parent: path, child, depth: depth(path) })
  }
  plan.merges.sort((a, b) => a.depth - b.depth || a.parent.localeCompare(b.parent))
  return plan
}

function multipleChildren(parent: string, children: string[], input: PlanInput): CleanVmWarning {
  const branches = children.map((child) => {
    const users = activeBelow(child, input)
      .flatMap((path) => input.usersOf.get(path) ?? [])
      .sort()
    return `${child} (used by ${users.length === 0 ? 'protected files' : [...new Set(users)].join(', ')})`
  })
  return {
    code: 'MULTIPLE_CHILDREN',
    message:
      `${parent} is the parent of ${children.length} branches that backups still use: ${branches.join('; ')}. ` +
      'It is kept and not merged, so that every branch stays restorable; the other disks of this directory are cleaned as usual. ' +
      'Once only one branch is used (retention deletes the others), it is merged.',
    paths: [parent, ...children],
  }
}

/** Active or protected VHDs at or above `path` (its descendants). */
function activeBelow(path: string, input: PlanInput, seen: Set<string> = new Set()): string[] {
  if (seen.has(path)) return []
  seen.add(path)
  const own = input.active.has(path) || input.protectedPaths.has(path) ? [path] : []
  return [...own, ...input.lineage.linkedChildren(path).flatMap((child) => activeBelow(child, input, seen))]
}
