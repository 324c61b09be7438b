import { randomUUID } from 'node:crypto'
import { listChangedBlocks } from './cbt'
import { errors, smFailure } from './errors'
import type { VdiEntry } from './model'
import { LVHD_CBT_LOG_SIZE } from './sizes'
import { attachedReadWrite, entryOf, type SrContext, type SrTransaction } from './sr-context'

/**
 * Changed block tracking on one SR (storage-semantics.md §5, §8.7): logs linked oldest to newest,
 * rotated on snapshot, folded on delete, kept by `data_destroy`, switched off with a message when
 * they cannot be trusted.
 */

/** `enable_cbt`/`disable_cbt` preconditions, XAPI's then SM's. */
function checkCbtToggle(ctx: SrContext, uuid: string): VdiEntry {
  const entry = entryOf(ctx, uuid)
  const record = ctx.record(uuid)
  if (record.type === 'cbt_metadata') throw errors.vdiIncompatibleType(uuid, 'cbt_metadata')
  if (record.isASnapshot) throw errors.operationNotAllowed(`VDI is a snapshot: ${uuid}`, uuid)
  if (record.type !== 'user' && record.type !== 'system') throw errors.vdiIncompatibleType(uuid, record.type)
  if (record.onBoot === 'reset') throw errors.vdiOnBootIncompatible()
  const node = ctx.model.nodeOf(uuid)!
  if (node.hidden) throw errors.vdiNotManaged(uuid)
  if (node.raw) throw smFailure(66, 'Raw VDI or snapshot not permitted')
  return entry
}

/** `VDI.enable_cbt`: a fresh all-zero log (LVHD: a 4 MiB LV, 457 when the VG is full). */
export async function enableCbt(ctx: SrContext, tx: SrTransaction, uuid: string): Promise<void> {
  const entry = checkCbtToggle(ctx, uuid)
  if (entry.cbt !== null) return
  const node = ctx.model.nodeOf(uuid)!
  if (ctx.model.family === 'lvhd' && LVHD_CBT_LOG_SIZE > ctx.free()) {
    throw smFailure(457, 'There is insufficient space')
  }
  const log = randomUUID()
  await ctx.cbtFiles.create(log, node.virtualSize)
  const consistent = !attachedReadWrite(entry)
  entry.cbt = { log, parent: null, child: null, consistent, size: node.virtualSize }
  tx.changed()
}

/** `VDI.disable_cbt`: deletes the log; the previous log's child link is cleared. */
export function disableCbt(ctx: SrContext, tx: SrTransaction, uuid: string): void {
  const entry = checkCbtToggle(ctx, uuid)
  const log = entry.cbt
  if (log === null) return
  const parent = log.parent === null ? undefined : ctx.model.vdi(log.parent)
  if (parent?.cbt != null && parent.cbt.child === entry.uuid) parent.cbt.child = null
  entry.cbt = null
  tx.afterCommit(() => ctx.cbtFiles.remove(log.log))
  tx.changed()
}

/** SM's `_disable_cbt_on_error`: the log goes, CBT is off, a priority-3 message tells why. */
export function disableCbtOnError(
  ctx: SrContext,
  tx: SrTransaction,
  entry: VdiEntry,
  name: string,
  body: string,
): void {
  const log = entry.cbt
  if (log === null) return
  entry.cbt = null
  tx.afterCommit(() => ctx.cbtFiles.remove(log.log))
  ctx.vdiMessage(name, entry.uuid, body)
  tx.changed()
}

/**
 * `_cbt_snapshot`: the source's log (writes since the previous snapshot) becomes the snapshot's,
 * marked consistent; the source starts a fresh log linked after it.
 */
export async function rotateCbtLog(ctx: SrContext, source: VdiEntry, snapshot: string): Promise<void> {
  const log = source.cbt!
  const previous = log.parent === null ? undefined : ctx.model.vdi(log.parent)
  if (previous?.cbt != null) previous.cbt.child = snapshot
  // On LVHD the snapshot's space check already covers the new 4 MiB log (its two journal LVs are
  // freed by then), so only an injected failure gets here.
  if (ctx.injected.cbtSnapshot > 0) {
    ctx.injected.cbtSnapshot--
    // The snapshot keeps the log; the source loses CBT.
    ctx.model.vdi(snapshot)!.cbt = { ...log, consistent: true }
    source.cbt = null
    ctx.vdiMessage('VDI_CBT_SNAPSHOT_FAILED', source.uuid, `Creating CBT metadata log for disk ${source.uuid} failed.`)
    return
  }
  const fresh = randomUUID()
  await ctx.cbtFiles.create(fresh, log.size)
  ctx.model.vdi(snapshot)!.cbt = { ...log, consistent: true, child: source.uuid }
  source.cbt = {
    log: fresh,
    parent: snapshot,
    child: log.child,
    consistent: !attachedReadWrite(source),
    size: log.size,
  }
}

/** `VDI.delete` of a CBT VDI: its bitmap is ORed into the next log, the list is spliced. */
export async function foldCbtLog(ctx: SrContext, tx: SrTransaction, entry: VdiEntry): Promise<void> {
  const log = entry.cbt!
  const parent = log.parent === null ? undefined : ctx.model.vdi(log.parent)
  const child = log.child === null ? undefined : ctx.model.vdi(log.child)
  if (parent?.cbt != null) parent.cbt.child = log.child
  if (child?.cbt != null) {
    child.cbt.parent = log.parent
    await ctx.cbtFiles.orInto(child.cbt.log, await ctx.cbtFiles.read(log.log))
  }
  entry.cbt = null
  tx.afterCommit(() => ctx.cbtFiles.remove(log.log))
}

/** `resize_cbt`: the log follows the disk, or (injected failure) CBT is switched off. */
export async function resizeCbtLog(ctx: SrContext, tx: SrTransaction, entry: VdiEntry, size: number): Promise<void> {
  if (entry.cbt === null) return
  if (ctx.injected.cbtResize > 0) {
    ctx.injected.cbtResize--
    const body = `Resizing of CBT metadata for disk ${entry.uuid} failed.`
    disableCbtOnError(ctx, tx, entry, 'VDI_CBT_RESIZE_FAILED', body)
    return
  }
  entry.cbt.size = size
  await ctx.cbtFiles.resize(entry.cbt.log, size)
}

/**
 * `VDI.list_changed_blocks(from, to)`: base64 of the OR of the logs after `from` through `to`,
 * MSB first. `to` must not be attached except to snapshot VMs (`VDI_IN_USE`).
 */
export function changedBlocks(ctx: SrContext, from: string, to: string): Promise<string> {
  entryOf(ctx, from)
  if (ctx.model.vdi(to)?.attachments.some((a) => !a.snapshotVm)) throw errors.vdiInUse(to, 'list_changed_blocks')
  return listChangedBlocks(
    {
      log: (vdi) => ctx.model.vdi(vdi)?.cbt ?? null,
      bitmap: (record) => ctx.cbtFiles.read(record.log),
    },
    from,
    to,
  )
}
