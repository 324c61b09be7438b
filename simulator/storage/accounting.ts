import type { Knobs } from './knobs'
import type { SrModel, VdiEntry, VhdNode } from './model'
import {
  BLOCK_FILE_COST,
  BLOCK_SIZE,
  calcOverheadBitmap,
  calcOverheadEmpty,
  cbtLogFileSize,
  deflatedLvSize,
  inflatedLvSize,
  LVHD_CBT_LOG_SIZE,
  lvhdVhdSize,
  lvSizeFor,
  vhdFileSize,
} from './sizes'

/**
 * Sizes as SM reports them (storage-semantics.md §8.2): what a node occupies, what the SR has used
 * and has free, and how much extra space a coalesce needs (§4.5). Pure functions of the model.
 */

/** Bytes the node occupies: its VHD file on file SRs, its LV on LVHD, the image on ISO SRs. */
export function nodeBytes(model: SrModel, node: VhdNode): number {
  switch (model.family) {
    case 'file':
      return node.raw ? node.virtualSize : vhdFileSize(node.virtualSize, node.blocks.count)
    case 'lvhd':
      return node.lvSize ?? 0
    case 'iso':
      return node.virtualSize
  }
}

/** Size of the VHD itself (what `vhd-util query -s` answers), the base of "deflated". */
export function vhdPhysicalSize(model: SrModel, node: VhdNode): number {
  if (node.raw) return node.virtualSize
  return model.family === 'lvhd' ? lvhdVhdSize(node.blocks.count) : vhdFileSize(node.virtualSize, node.blocks.count)
}

export function cbtLogBytes(model: SrModel, entry: VdiEntry): number {
  if (entry.cbt === null) return 0
  return model.family === 'lvhd' ? LVHD_CBT_LOG_SIZE : cbtLogFileSize(entry.cbt.size)
}

export function vdiPhysicalUtilisation(model: SrModel, entry: VdiEntry): number {
  const node = model.nodeOf(entry.uuid)
  return node === undefined ? 0 : nodeBytes(model, node)
}

export function vdiVirtualSize(model: SrModel, entry: VdiEntry): number {
  return model.nodeOf(entry.uuid)?.virtualSize ?? entry.dataDestroyedSize ?? 0
}

/** `SR.physical_utilisation`, including space held by a coalesce in progress. */
export function srPhysicalUtilisation(model: SrModel, knobs: Knobs, reservedBytes: number): number {
  let used = reservedBytes
  switch (model.family) {
    case 'file':
      used += knobs.fileSrOverheadBytes
      break
    case 'lvhd':
      used += knobs.lvhdManagementBytes
      break
    case 'iso':
      break
  }
  for (const node of model.allNodes()) used += nodeBytes(model, node)
  for (const entry of model.allVdis()) used += cbtLogBytes(model, entry)
  return used
}

/** `SR.virtual_allocation`: virtual sizes of the VDIs that are not hidden and still have data. */
export function srVirtualAllocation(model: SrModel): number {
  let total = 0
  for (const node of model.allNodes()) if (!node.hidden) total += node.virtualSize
  return total
}

export function srFreeSpace(model: SrModel, knobs: Knobs, reservedBytes: number): number {
  return model.physicalSize - srPhysicalUtilisation(model, knobs, reservedBytes)
}

/** `_calcExtraSpaceForCoalescing`: growth of the parent when the child is merged into it. */
export function extraSpaceForCoalesce(model: SrModel, child: VhdNode, parent: VhdNode): number {
  const union = parent.blocks.unionCount(child.blocks)
  const data = union * BLOCK_SIZE
  if (model.family === 'lvhd') return parent.raw ? 0 : inflatedLvSize(data) - (parent.lvSize ?? 0)
  return data + calcOverheadBitmap(data) + calcOverheadEmpty(child.virtualSize) - nodeBytes(model, parent)
}

/** `_calcExtraSpaceForLeafCoalescing`: LVHD can deflate the leaf first. */
export function extraSpaceForLeafCoalesce(model: SrModel, leaf: VhdNode, parent: VhdNode): number {
  const extra = extraSpaceForCoalesce(model, leaf, parent)
  if (model.family !== 'lvhd') return extra
  return extra - ((leaf.lvSize ?? 0) - lvSizeFor(vhdPhysicalSize(model, leaf)))
}

/** `_calcExtraSpaceForSnapshotCoalescing`: a coalesce plus the extra (internal) snapshot leaf. */
export function extraSpaceForSnapshotCoalesce(model: SrModel, leaf: VhdNode, parent: VhdNode): number {
  const extra = extraSpaceForCoalesce(model, leaf, parent)
  return model.family === 'lvhd'
    ? extra + lvSizeFor(vhdPhysicalSize(model, leaf))
    : extra + calcOverheadEmpty(leaf.virtualSize)
}

/** Bytes a write allocating `added` new blocks in `node` needs; LVHD grows the LV only past its size. */
export function growthForAllocation(model: SrModel, node: VhdNode, added: number): number {
  if (added <= 0 || node.raw) return 0
  if (model.family === 'lvhd') {
    const needed = deflatedLvSize(node.blocks.count + added)
    return Math.max(0, needed - (node.lvSize ?? 0))
  }
  return added * BLOCK_FILE_COST
}
