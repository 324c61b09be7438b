import { disableCbtOnError } from './cbt-ops'
import { errors, smFailure } from './errors'
import type { VdiEntry } from './model'
import { deflatedLvSize, inflatedLvSize } from './sizes'
import { attachedReadWrite, entryOf, nodeOf, type SrContext, type SrTransaction } from './sr-context'

/**
 * Attaching VDIs on the simulated host (SM's `attach`/`activate`, `deactivate`/`detach`): LVHD
 * inflation and deflation, and the CBT log's consistency flag a crash leaves cleared.
 */

export interface AttachOptions {
  /** Who attaches (a VBD ref, an NBD connection id...); detach names the same holder. */
  holder: string
  readOnly?: boolean
  /** The VBD belongs to a snapshot VM: does not block `list_changed_blocks`. */
  snapshotVm?: boolean
}

/**
 * A read-write attach inflates an LVHD leaf (180 when the VG cannot hold it) and opens the CBT log,
 * which must have been closed cleanly, else CBT is switched off (`VDI_CBT_METADATA_INCONSISTENT`).
 */
export function attach(ctx: SrContext, tx: SrTransaction, uuid: string, options: AttachOptions): void {
  const readOnly = options.readOnly ?? false
  const entry = entryOf(ctx, uuid)
  const node = nodeOf(ctx, uuid, 'VDI.attach')
  if (!readOnly && (node.hidden || ctx.model.family === 'iso')) {
    throw errors.vdiReadOnly(uuid, 'read-only VDIs attach read-only')
  }
  const others = entry.attachments.filter((a) => a.holder !== options.holder)
  if (!readOnly && !others.some((a) => !a.readOnly)) {
    if (ctx.model.family === 'lvhd' && !node.raw) {
      const target = inflatedLvSize(node.virtualSize)
      const growth = target - (node.lvSize ?? 0)
      if (growth > ctx.free()) throw smFailure(180, undefined, `inflating needs ${growth} bytes`)
      node.lvSize = Math.max(node.lvSize ?? 0, target)
    }
    if (entry.cbt !== null) {
      if (entry.cbt.consistent) entry.cbt.consistent = false
      else {
        const body = `Changed Block Tracking metadata is inconsistent for disk ${uuid}.`
        disableCbtOnError(ctx, tx, entry, 'VDI_CBT_METADATA_INCONSISTENT', body)
      }
    }
  }
  entry.attachments = [...others, { holder: options.holder, readOnly, snapshotVm: options.snapshotVm ?? false }]
  tx.changed()
}

export function detach(ctx: SrContext, tx: SrTransaction, uuid: string, holder: string): void {
  const entry = entryOf(ctx, uuid)
  const before = entry.attachments.length
  entry.attachments = entry.attachments.filter((a) => a.holder !== holder)
  if (entry.attachments.length === before) return
  if (!attachedReadWrite(entry)) closeCleanly(ctx, entry)
  tx.changed()
}

/** Clean close: the CBT log is consistent again; thin LVHD leaves and snapshots deflate. */
function closeCleanly(ctx: SrContext, entry: VdiEntry): void {
  if (entry.cbt !== null) entry.cbt.consistent = true
  const node = ctx.model.nodeOf(entry.uuid)
  if (node === undefined || node.raw || ctx.model.family !== 'lvhd' || entry.attachments.length > 0) return
  if (ctx.model.allocation === 'thin' || ctx.record(entry.uuid).isASnapshot) {
    node.lvSize = Math.min(node.lvSize ?? 0, deflatedLvSize(node.blocks.count))
  }
}

/** The simulated host went down: attachments vanish; after a crash CBT logs stay marked open. */
export function hostDown(ctx: SrContext, tx: SrTransaction, clean: boolean): void {
  for (const entry of ctx.model.allVdis()) {
    if (entry.attachments.length === 0) continue
    entry.attachments = []
    if (clean) closeCleanly(ctx, entry)
  }
  // `/run/nonpersistent/sm/<sr>/gc_init` is gone after a boot: the next GC skips its quiet period.
  ctx.model.gc.bootInitDone = false
  tx.changed()
}
