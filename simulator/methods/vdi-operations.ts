import type { Database, XapiRecord } from '../db/database'
import { type CallContext, cancellableDelay } from '../rpc/call-context'
import { XapiError } from '../rpc/errors'

/**
 * Which VDI operations are allowed when, after XAPI's `Xapi_vdi.check_operation_error`: operations in
 * progress, attached VBDs (only "live" operations run on an attached disk), the SR's SM capabilities,
 * `cbt_metadata` VDIs, CBT, then each operation's own rules. HA, rolling upgrades and RRD VDIs do not
 * apply to the simulated pool.
 */

/** The SM capability an operation needs (`feature_of_op`). */
const FEATURE_OF_OPERATION: Readonly<Record<string, string>> = {
  snapshot: 'VDI_SNAPSHOT',
  destroy: 'VDI_DELETE',
  resize: 'VDI_RESIZE',
  update: 'VDI_UPDATE',
  resize_online: 'VDI_RESIZE_ONLINE',
  generate_config: 'VDI_GENERATE_CONFIG',
  clone: 'VDI_CLONE',
  revert_to: 'VDI_CLONE',
  revert_from: 'VDI_CLONE',
  mirror: 'VDI_MIRROR',
  enable_cbt: 'VDI_CONFIG_CBT',
  disable_cbt: 'VDI_CONFIG_CBT',
  data_destroy: 'VDI_CONFIG_CBT',
  list_changed_blocks: 'VDI_CONFIG_CBT',
  set_on_boot: 'VDI_RESET_ON_BOOT',
}

/** Operations that run on a disk a VM has attached. */
const LIVE_OPERATIONS = new Set([
  'snapshot',
  'resize_online',
  'blocked',
  'clone',
  'revert_to',
  'mirror',
  'enable_cbt',
  'disable_cbt',
  'data_destroy',
])

/** Operations a `cbt_metadata` VDI (data destroyed) still allows. */
const CBT_METADATA_OPERATIONS = new Set([
  'blocked',
  'data_destroy',
  'destroy',
  'list_changed_blocks',
  'force_unlock',
  'forget',
  'generate_config',
  'update',
])

/** What XAPI lists in `allowed_operations` (`pre_ely_vdi_operations` minus `blocked`, `force_unlock`). */
const LISTED_OPERATIONS = [
  'clone',
  'copy',
  'resize',
  'resize_online',
  'snapshot',
  'destroy',
  'forget',
  'update',
  'generate_config',
]

function smCapabilities(db: Database, sr: XapiRecord | undefined): readonly string[] {
  if (sr === undefined) return []
  const [sm] = db.filter('SM', (record) => record.type === sr.type)
  return sm === undefined ? [] : (db.get('SM', sm).capabilities as readonly string[])
}

/** The error XAPI would raise for `op` on this VDI now, or undefined when it is allowed. */
export function vdiOperationError(db: Database, ref: string, op: string): XapiError | undefined {
  const vdi = db.get('VDI', ref)
  const current = Object.entries(vdi.current_operations as Readonly<Record<string, string>>)
  const busy = current.find(([, o]) => o !== 'copy')
  if (busy !== undefined) return new XapiError('OTHER_OPERATION_IN_PROGRESS', ['VDI', ref, busy[1], busy[0]])

  const active = (vdi.VBDs as readonly string[])
    .map((vbd) => db.find('VBD', vbd))
    .filter((vbd): vbd is XapiRecord => vbd !== undefined && vbd.currently_attached === true)
  let blocked = LIVE_OPERATIONS.has(op)
    ? false
    : op === 'copy'
      ? active.some((vbd) => vbd.mode === 'RW')
      : active.length > 0
  if (blocked && op === 'list_changed_blocks') {
    // VM.checkpoint leaves the snapshot's VBDs "attached": they do not block.
    blocked = !active.every((vbd) => db.find('VM', String(vbd.VM))?.is_a_snapshot === true)
  }
  if (blocked) return new XapiError('VDI_IN_USE', [ref, op])

  const feature = FEATURE_OF_OPERATION[op]
  const sr = String(vdi.SR)
  if (feature !== undefined && !smCapabilities(db, db.find('SR', sr)).includes(feature)) {
    return new XapiError('SR_OPERATION_NOT_SUPPORTED', [sr])
  }
  if (vdi.type === 'cbt_metadata' && !CBT_METADATA_OPERATIONS.has(op)) {
    return new XapiError('VDI_INCOMPATIBLE_TYPE', [ref, 'cbt_metadata'])
  }
  if (vdi.cbt_enabled === true && (op === 'mirror' || op === 'set_on_boot')) {
    return new XapiError('VDI_CBT_ENABLED', [ref])
  }
  const resetOnBoot = vdi.on_boot === 'reset'
  switch (op) {
    case 'data_destroy':
      if (vdi.is_a_snapshot !== true) return new XapiError('OPERATION_NOT_ALLOWED', [`VDI is not a snapshot: ${ref}`])
      if (vdi.cbt_enabled !== true) return new XapiError('VDI_NO_CBT_METADATA', [ref])
      return undefined
    case 'snapshot':
      if (vdi.sharable === true) return new XapiError('VDI_IS_SHARABLE', [ref])
      if (resetOnBoot) return new XapiError('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', [])
      if (current.some(([, o]) => o === 'copy')) {
        return new XapiError('OPERATION_NOT_ALLOWED', ['Snapshot operation not allowed during copy.'])
      }
      return undefined
    case 'copy':
      return resetOnBoot ? new XapiError('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', []) : undefined
    case 'enable_cbt':
    case 'disable_cbt':
      if (vdi.is_a_snapshot === true) return new XapiError('OPERATION_NOT_ALLOWED', [`VDI is a snapshot: ${ref}`])
      if (vdi.type !== 'user' && vdi.type !== 'system') {
        return new XapiError('VDI_INCOMPATIBLE_TYPE', [ref, String(vdi.type)])
      }
      return resetOnBoot ? new XapiError('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', []) : undefined
    case 'revert_to':
      return vdi.is_a_snapshot === true ? undefined : new XapiError('ONLY_REVERT_SNAPSHOT', [])
    default:
      return undefined
  }
}

export function assertVdiOperationValid(db: Database, ref: string, op: string): void {
  const error = vdiOperationError(db, ref, op)
  if (error !== undefined) throw error
}

/** Recomputes `VDI.allowed_operations` (XAPI's `update_allowed_operations`). */
export function updateVdiAllowedOperations(db: Database, ref: string): void {
  if (!db.exists('VDI', ref)) return
  const allowed = LISTED_OPERATIONS.filter((op) => vdiOperationError(db, ref, op) === undefined)
  const current = db.get('VDI', ref).allowed_operations as readonly string[]
  if (current.length !== allowed.length || current.some((op, i) => op !== allowed[i])) {
    db.update('VDI', ref, { allowed_operations: allowed })
  }
}

/** How long an operation waits for another one on its VDIs to end (`Helpers.Policy.standard`: 2 hours). */
const MAX_WAIT_MS = 2 * 3600 * 1000
const RETRY_MS = 20

/**
 * Runs an operation on VDIs the way XAPI's `with_sr_andor_vdi` does: checks it is allowed on each and
 * records it in their `current_operations` (keyed by the call's task) while it runs, refreshing
 * `allowed_operations` (VDIs the operation destroyed are skipped). Another operation in progress on
 * one of them is waited for (`Helpers.retry`), as concurrent snapshots of one VM's disks do.
 */
export async function withVdiOperation<T>(
  ctx: CallContext,
  vdis: readonly string[],
  op: string,
  run: () => Promise<T> | T,
): Promise<T> {
  const { db } = ctx.core
  const deadline = Date.now() + MAX_WAIT_MS
  for (;;) {
    const error = vdis.map((vdi) => vdiOperationError(db, vdi, op)).find((e) => e !== undefined)
    if (error === undefined) break
    if (error.code !== 'OTHER_OPERATION_IN_PROGRESS' || Date.now() > deadline) throw error
    await cancellableDelay(RETRY_MS, ctx.signal)
  }
  const key = ctx.operationKey
  for (const vdi of vdis) {
    const operations = db.get('VDI', vdi).current_operations as Readonly<Record<string, string>>
    db.update('VDI', vdi, { current_operations: { ...operations, [key]: op } })
    updateVdiAllowedOperations(db, vdi)
  }
  try {
    return await run()
  } finally {
    for (const vdi of vdis) {
      if (!db.exists('VDI', vdi)) continue
      const { [key]: _done, ...rest } = db.get('VDI', vdi).current_operations as Readonly<Record<string, string>>
      db.update('VDI', vdi, { current_operations: rest })
      updateVdiAllowedOperations(db, vdi)
    }
  }
}
