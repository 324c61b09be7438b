import { randomUUID } from 'node:crypto'
import { foldCbtLog, resizeCbtLog } from './cbt-ops'
import { applyFill, applyWrites, type SyntheticFill } from './content-ops'
import { errors, smFailure } from './errors'
import { ExtentMap } from './extent-map'
import { VdiEntry, VhdNode } from './model'
import { UuidSchema } from './schema'
import { BLOCK_SIZE, inflatedLvSize, lvSizeFor, MAX_VHD_SIZE, MIN_VHD_SIZE, MiB, roundUp, THIN_LV_SIZE } from './sizes'
import { attachedReadWrite, entryOf, nodeOf, requireVhdSr, type SrContext, type SrTransaction } from './sr-context'

/** `VDI.create`, `VDI.destroy`, `VDI.resize`, `VDI.data_destroy` as SM does them (storage-semantics.md §8.4). */

export interface CreateVdiOptions {
  /** Uuid of the new VDI (random by default). */
  uuid?: string
  /** Bytes; rounded up to 2 MiB like SM (raw and ISO images keep their exact size). */
  virtualSize: number
  /** A raw image instead of a VHD (`sm_config type=raw`): cannot be snapshotted, no CBT. */
  raw?: boolean
  /** Synthetic contents: a fixture's "40 % full" disk without storing its bytes. */
  fill?: SyntheticFill
  /** Bytes written at offset 0 before the VDI is introduced (an ISO image, a small fixture). */
  content?: Uint8Array
}

/** `vhdutil.validate_and_round_vhd_size`: at most 2040 GiB, at least 2 MiB, rounded up to a block. */
export function validateSize(size: number, exact: boolean): number {
  if (!Number.isSafeInteger(size) || size <= 0 || size > MAX_VHD_SIZE) {
    throw smFailure(79, `VDI size must be between 1 MB and ${MAX_VHD_SIZE / MiB} MB`, `virtualSize ${size}`)
  }
  return exact ? size : roundUp(Math.max(size, MIN_VHD_SIZE), BLOCK_SIZE)
}

/** Validates the options outside the lock; returns the uuid and the size SM will use. */
export function planCreate(ctx: SrContext, options: CreateVdiOptions): { uuid: string; raw: boolean; size: number } {
  const uuid = options.uuid ?? randomUUID()
  if (!UuidSchema.safeParse(uuid).success) throw errors.invalidArgument('uuid', `${uuid} is not a lowercase uuid`)
  const raw = ctx.model.family === 'iso' || options.raw === true
  const size = validateSize(options.virtualSize, raw)
  if (options.content !== undefined && options.content.length > size) {
    throw errors.invalidArgument('content', `${options.content.length} bytes do not fit in ${size}`)
  }
  return { uuid, raw, size }
}

/** `VDI.create`: a new empty VDI (thick LVHD reserves its full LV, or fails with 44). */
export async function createVdi(
  ctx: SrContext,
  tx: SrTransaction,
  plan: { uuid: string; raw: boolean; size: number },
  options: CreateVdiOptions,
): Promise<void> {
  const { model } = ctx
  const { uuid, raw, size } = plan
  if (model.vdi(uuid) !== undefined) throw errors.invalidArgument('uuid', `VDI ${uuid} already exists`)
  let lvSize: number | undefined
  if (model.family === 'lvhd') {
    lvSize = raw ? lvSizeFor(size) : model.allocation === 'thick' ? inflatedLvSize(size) : THIN_LV_SIZE
    if (lvSize > ctx.free()) throw smFailure(44, undefined, `VDI.create needs ${lvSize} bytes`)
  }
  model.addVdi(new VdiEntry(uuid, 'create', undefined, null, [], undefined, undefined))
  const node = new VhdNode(randomUUID(), uuid, null, false, raw, size, new ExtentMap(), lvSize)
  model.addNode(node)
  if (options.content !== undefined && options.content.length > 0) {
    await applyWrites(ctx, node, model.vdi(uuid)!, [{ offset: 0, data: options.content }], true)
  }
  if (options.fill !== undefined) applyFill(ctx, node, options.fill)
  tx.changed()
}

/** `VDI.destroy`: the leaf goes now (space freed), its CBT history folds into the next log. */
export async function destroyVdi(ctx: SrContext, tx: SrTransaction, uuid: string): Promise<void> {
  const entry = entryOf(ctx, uuid)
  const node = ctx.model.nodeOf(uuid)
  if (node?.hidden === true) throw errors.vdiNotManaged(uuid)
  if (entry.attachments.length > 0) throw errors.vdiInUse(uuid, 'destroy')
  if (entry.cbt !== null) await foldCbtLog(ctx, tx, entry)
  if (node !== undefined) {
    ctx.model.removeNode(node)
    tx.afterCommit(() => ctx.files.remove(node.vhd))
  }
  ctx.model.removeVdi(uuid)
  ctx.model.gc.pending = true
  tx.changed()
}

/** `VDI.resize`: grow only; a thick (or attached) LVHD leaf inflates to the new size, 44 if it cannot. */
export async function resizeVdi(ctx: SrContext, tx: SrTransaction, uuid: string, newSize: number): Promise<void> {
  const { model } = ctx
  requireVhdSr(model, 'VDI.resize')
  const entry = entryOf(ctx, uuid)
  const node = nodeOf(ctx, uuid, 'VDI.resize')
  if (node.hidden) throw errors.vdiNotManaged(uuid)
  if (node.raw) throw smFailure(38, undefined, 'raw VDIs cannot be resized')
  if (newSize < node.virtualSize) throw smFailure(79, 'shrinking not allowed')
  const size = validateSize(newSize, false)
  if (size === node.virtualSize) return
  if (model.family === 'lvhd' && (model.allocation === 'thick' || attachedReadWrite(entry))) {
    const target = inflatedLvSize(size)
    const growth = target - (node.lvSize ?? 0)
    if (growth > ctx.free()) throw smFailure(44, undefined, `VDI.resize needs ${growth} more bytes`)
    node.lvSize = Math.max(node.lvSize ?? 0, target)
  }
  node.virtualSize = size
  await resizeCbtLog(ctx, tx, entry, size)
  tx.changed()
}

/** XAPI's `data_destroy` checks, before it waits for the VDI to be detached. */
export function checkDataDestroy(ctx: SrContext, uuid: string): VdiEntry {
  const entry = entryOf(ctx, uuid)
  if (!ctx.record(uuid).isASnapshot) throw errors.operationNotAllowed(`VDI is not a snapshot: ${uuid}`, uuid)
  if (entry.cbt === null) throw errors.vdiNoCbtMetadata(uuid)
  return entry
}

/** `VDI.data_destroy`: drops the VHD of a CBT snapshot but keeps its record and CBT log. */
export function dataDestroyVdi(ctx: SrContext, tx: SrTransaction, uuid: string): void {
  const entry = entryOf(ctx, uuid)
  const node = ctx.model.nodeOf(uuid)
  if (node === undefined) return
  if (entry.attachments.length > 0) throw errors.vdiInUse(uuid, 'data_destroy')
  if (node.hidden) throw errors.vdiNotManaged(uuid)
  entry.dataDestroyedSize = node.virtualSize
  ctx.model.removeNode(node)
  tx.afterCommit(() => ctx.files.remove(node.vhd))
  ctx.model.gc.pending = true
  tx.changed()
}
