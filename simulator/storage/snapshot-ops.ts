import { randomUUID } from 'node:crypto'
import { vhdPhysicalSize } from './accounting'
import { rotateCbtLog } from './cbt-ops'
import { errors, smFailure } from './errors'
import { ExtentMap } from './extent-map'
import { VdiEntry, VhdNode } from './model'
import type { VdiRecordFacts } from './records'
import { calcOverheadEmpty, inflatedLvSize, LVHD_JOURNAL_SIZE, lvSizeFor, THIN_LV_SIZE } from './sizes'
import { attachedReadWrite, entryOf, nodeOf, requireVhdSr, type SrContext, type SrTransaction } from './sr-context'

/**
 * `VDI.snapshot` and `VDI.clone` (SNAPSHOT_DOUBLE) and the GC's SNAPSHOT_INTERNAL, as FileSR and
 * LVHDSR do them (storage-semantics.md §2, §3, §8.3).
 */

export type SnapshotKind = 'snapshot' | 'clone'

export interface SnapshotIds {
  snapshot: string
  baseCopy: string | null
}

interface LvSizes {
  original: number
  copy: number
  base: number
  required: number
}

/** Preconditions in XAPI's order (`check_operation_error`, then `managed`), then SM's (raw, depth, space). */
function checkSnapshot(ctx: SrContext, uuid: string, kind: SnapshotKind): VhdNode {
  entryOf(ctx, uuid)
  const record = ctx.record(uuid)
  requireVhdSr(ctx.model, `VDI.${kind}`)
  if (record.type === 'cbt_metadata') throw errors.vdiIncompatibleType(uuid, 'cbt_metadata')
  if (kind === 'snapshot') {
    if (record.sharable) throw errors.vdiIsSharable(uuid)
    if (record.onBoot === 'reset') throw errors.vdiOnBootIncompatible()
    if (record.currentOperations.includes('copy')) {
      throw errors.operationNotAllowed('Snapshot operation not allowed during copy.')
    }
  }
  const node = nodeOf(ctx, uuid, `VDI.${kind}`)
  if (node.hidden) throw errors.vdiNotManaged(uuid)
  if (node.raw) throw smFailure(38, 'Raw VDI, snapshot or clone not permitted')
  const depth = ctx.model.depth(node)
  if (depth >= ctx.knobs.maxChainDepth) {
    throw smFailure(109, undefined, `VDI ${uuid} is at depth ${depth}, the limit is ${ctx.knobs.maxChainDepth}`)
  }
  return node
}

/** LVHD `_snapshot` sizes: new leaf, new snapshot, deflated base, and the space check `size_req`. */
function lvSizes(ctx: SrContext, node: VhdNode, record: VdiRecordFacts, kind: SnapshotKind): LvSizes | null {
  if (ctx.model.family !== 'lvhd') return null
  const entry = ctx.model.vdi(node.vdi)!
  const full = inflatedLvSize(node.virtualSize)
  const thick = ctx.model.allocation === 'thick'
  const attached = kind === 'snapshot' && entry.attachments.length > 0
  const original = attached || (thick && !record.isASnapshot) ? full : THIN_LV_SIZE
  const copy = thick && kind === 'clone' ? full : THIN_LV_SIZE
  const base = lvSizeFor(vhdPhysicalSize(ctx.model, node))
  const required = original + copy + 2 * LVHD_JOURNAL_SIZE - ((node.lvSize ?? 0) - base)
  return { original, copy, base, required }
}

export async function snapshotOrClone(
  ctx: SrContext,
  tx: SrTransaction,
  uuid: string,
  kind: SnapshotKind,
): Promise<SnapshotIds> {
  const node = checkSnapshot(ctx, uuid, kind)
  const entry = ctx.model.vdi(uuid)!
  const sizes = lvSizes(ctx, node, ctx.record(uuid), kind)
  if (sizes !== null && sizes.required > ctx.free()) {
    throw smFailure(44, undefined, `${kind} needs ${sizes.required} bytes, ${ctx.free()} are free`)
  }
  if (ctx.model.family === 'file' && ctx.free() < 2 * calcOverheadEmpty(node.virtualSize)) {
    throw smFailure(81, 'VDI clone failed error 28')
  }
  if (ctx.knobs.snapshotPauseMs > 0) {
    ctx.setPaused(uuid, true)
    tx.publish()
    await new Promise((resolve) => setTimeout(resolve, ctx.knobs.snapshotPauseMs))
    ctx.setPaused(uuid, false)
  }
  const { baseCopy, target } = splitLeaf(ctx, tx, node, sizes)
  const snapshot = randomUUID()
  ctx.model.addVdi(new VdiEntry(snapshot, kind, uuid, null, [], undefined, undefined))
  ctx.model.addNode(
    new VhdNode(randomUUID(), snapshot, target.vhd, false, false, node.virtualSize, new ExtentMap(), sizes?.copy),
  )
  if (kind === 'snapshot' && entry.cbt !== null) await rotateCbtLog(ctx, entry, snapshot)
  tx.changed()
  return { snapshot, baseCopy }
}

/**
 * The source's side of a SNAPSHOT_DOUBLE. If the leaf is an empty differencing disk (nothing written
 * since it was made), the new leaves hang off its first non-empty ancestor and no base copy appears
 * (`vhd_util_find_snapshot_target`); otherwise the leaf becomes the hidden base copy. The source VDI
 * keeps its uuid on a new empty leaf. Returns the parent of the new leaves.
 */
function splitLeaf(
  ctx: SrContext,
  tx: SrTransaction,
  node: VhdNode,
  sizes: LvSizes | null,
): { baseCopy: string | null; target: VhdNode } {
  const model = ctx.model
  const source = node.vdi
  let target: VhdNode = node
  while (target.blocks.count === 0 && target.parent !== null) target = model.parentOf(target)!
  let baseCopy: string | null = null
  if (target === node) {
    baseCopy = randomUUID()
    model.addVdi(new VdiEntry(baseCopy, 'base-copy', undefined, null, [], undefined, undefined))
    model.setVdi(node, baseCopy)
    node.hidden = true
    if (sizes !== null) node.lvSize = sizes.base
  } else {
    model.removeNode(node)
    tx.afterCommit(() => ctx.files.remove(node.vhd))
  }
  const leaf = new VhdNode(
    randomUUID(),
    source,
    target.vhd,
    false,
    false,
    node.virtualSize,
    new ExtentMap(),
    sizes?.original,
  )
  model.addNode(leaf)
  return { baseCopy, target }
}

/**
 * SNAPSHOT_INTERNAL (the GC's snapshot-coalesce): the leaf's VHD becomes a hidden parent, the VDI
 * continues on an empty leaf. Subject to the depth limit like any snapshot. Returns the new parent.
 */
export function internalSnapshot(ctx: SrContext, leaf: VhdNode): VhdNode {
  const model = ctx.model
  const depth = model.depth(leaf)
  if (depth >= ctx.knobs.maxChainDepth) throw smFailure(109, undefined, `internal snapshot at depth ${depth}`)
  const vdi = leaf.vdi
  const base = randomUUID()
  model.addVdi(new VdiEntry(base, 'base-copy', vdi, null, [], undefined, undefined))
  model.setVdi(leaf, base)
  leaf.hidden = true
  let lvSize: number | undefined
  if (model.family === 'lvhd') {
    const entry = model.vdi(vdi)!
    const thickLeaf = model.allocation === 'thick' && !ctx.record(vdi).isASnapshot
    lvSize = attachedReadWrite(entry) || thickLeaf ? inflatedLvSize(leaf.virtualSize) : THIN_LV_SIZE
    leaf.lvSize = lvSizeFor(vhdPhysicalSize(model, leaf))
  }
  model.addNode(new VhdNode(randomUUID(), vdi, leaf.vhd, false, false, leaf.virtualSize, new ExtentMap(), lvSize))
  return leaf
}
