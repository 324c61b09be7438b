import type { BlockFiles } from './block-files'
import type { CbtFiles } from './cbt-files'
import { errors, StorageError } from './errors'
import type { Knobs } from './knobs'
import type { SrModel, VdiEntry, VhdNode } from './model'
import type { VdiRecordFacts } from './records'

/** An open critical section of the SR: changes made through it are committed atomically at its end. */
export interface SrTransaction {
  /** The model changed: persist it when the section ends. */
  changed(): void
  /** Runs after the commit succeeded (deleting files the new metadata no longer references). */
  afterCommit(action: () => Promise<void>): void
  /** Publishes facts now (transient state such as `paused`) without waiting for the commit. */
  publish(): void
}

/**
 * What the operations on one SR work with, inside the SR lock: the model, the stored bytes, the
 * knobs, XAPI's record fields, and the few side channels (pausing, messages, injected faults).
 */
export interface SrContext {
  /** The current model (a failed section replaces it, so never keep it across sections). */
  readonly model: SrModel
  readonly knobs: Knobs
  readonly files: BlockFiles
  readonly cbtFiles: CbtFiles
  /** Pending injected failures, consumed one at a time. */
  readonly injected: { cbtResize: number; cbtSnapshot: number }
  free(): number
  /** XAPI's record fields of a VDI, falling back to what SM knows and XAPI's defaults. */
  record(uuid: string): VdiRecordFacts
  setPaused(uuid: string, paused: boolean): void
  /** A priority-3 XAPI message about a VDI, as SM's alerts. */
  vdiMessage(name: string, vdi: string, body: string): void
}

export function entryOf(ctx: SrContext, uuid: string): VdiEntry {
  const entry = ctx.model.vdi(uuid)
  if (entry === undefined) throw errors.uuidInvalid('VDI', uuid)
  return entry
}

/** The VDI's VHD node; a VDI whose data was destroyed is a `cbt_metadata` VDI and has none. */
export function nodeOf(ctx: SrContext, uuid: string, operation: string): VhdNode {
  entryOf(ctx, uuid)
  const node = ctx.model.nodeOf(uuid)
  if (node === undefined) {
    throw new StorageError(
      'VDI_INCOMPATIBLE_TYPE',
      [uuid, 'cbt_metadata'],
      [{ cls: 'VDI', uuid }],
      `${operation}: the VDI's data was destroyed`,
    )
  }
  return node
}

export function attachedReadWrite(entry: VdiEntry): boolean {
  return entry.attachments.some((a) => !a.readOnly)
}

/** ISO SRs have no VHD capabilities (`SR_OPERATION_NOT_SUPPORTED`). */
export function requireVhdSr(model: SrModel, operation: string): void {
  if (model.family === 'iso') {
    throw errors.srOperationNotSupported(model.uuid, `${operation} is not supported on an ISO SR`)
  }
}
