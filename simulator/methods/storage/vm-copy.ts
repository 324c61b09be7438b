import { randomBytes } from 'node:crypto'
import type { SimulatorCore } from '../../core'
import type { XapiRecord } from '../../db/database'
import { EPOCH, isNullRef, NULL_REF, newUuid, xapiNow } from '../../model/values'
import { updateVbdAllowedOperations } from '../vbd'
import { createVif } from '../vif'
import { updateVmAllowedOperations } from '../vm-operations'

/**
 * The records a VM snapshot, checkpoint, clone or copy makes (`Xapi_vm_clone.copy_vm_record`,
 * `Xapi_vbd_helpers.copy`, `Xapi_vif_helpers.copy`): the new VM, built while it holds the operation in
 * its `current_operations`, its VBDs on the new disks and its VIFs.
 */

export type VmDiskOp = 'clone' | 'copy' | 'snapshot' | 'checkpoint'

export interface VmCopySpec {
  readonly op: VmDiskOp
  readonly newName: string
  readonly powerState: 'Halted' | 'Suspended'
  /** The calling task: the new VM shows `{task: op}` in `current_operations` until it is complete. */
  readonly operationKey: string
  /** `snapshot_info` (checkpoints record the power state before their suspend). */
  readonly snapshotInfo?: Readonly<Record<string, string>>
}

/** XAPI's `snapshot_info` of a snapshot: crash-consistent, and the power state it was taken in. */
export function snapshotInfo(powerState: string): Record<string, string> {
  return { 'disk-snapshot-type': 'crash_consistent', 'power-state-at-snapshot': powerState }
}

/** `Xapi_vm_helpers.fresh_genid`: "0:0" stays, anything else gets a new random generation id. */
function freshGenerationId(current: string): string {
  if (current === '0:0') return current
  const part = () => randomBytes(8).readBigUInt64BE().toString()
  return `${part()}:${part()}`
}

/** `Helpers.vm_to_string`: the VM's record as an S-expression of field names and values. */
function vmToString(record: XapiRecord): string {
  const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  const value = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))
  return `(${Object.entries(record)
    .map(([key, v]) => `(${quote(key)} ${quote(value(v))})`)
    .join(' ')})`
}

function copyMetrics(core: SimulatorCore, cls: 'VM_metrics' | 'VM_guest_metrics', ref: string): string {
  const source = core.db.find(cls, ref)
  if (source === undefined) return NULL_REF
  const { uuid: _uuid, ...fields } = source
  return core.db.create(cls, fields)
}

export function copyVmRecord(core: SimulatorCore, vm: string, spec: VmCopySpec): string {
  const { db } = core
  const source = db.get('VM', vm)
  const isSnapshot = spec.op === 'snapshot' || spec.op === 'checkpoint'
  const otherConfig: Record<string, string> = { ...(source.other_config as Record<string, string>) }
  if (!isSnapshot) otherConfig.mac_seed = newUuid()
  delete otherConfig.default_template
  delete otherConfig.xensource_internal
  if (source.is_a_template === true && otherConfig.base_template_name === undefined) {
    otherConfig.base_template_name = String(source.name_label)
  }
  const { uuid: _uuid, ...fields } = source
  const ref = db.create('VM', {
    ...fields,
    name_label: spec.newName,
    power_state: spec.powerState,
    allowed_operations: [],
    current_operations: { [spec.operationKey]: spec.op },
    blocked_operations: {},
    is_a_template: isSnapshot || source.is_a_template === true,
    is_default_template: false,
    is_a_snapshot: isSnapshot,
    snapshot_of: isSnapshot ? vm : NULL_REF,
    snapshot_time: isSnapshot ? xapiNow() : EPOCH,
    snapshot_info: isSnapshot ? (spec.snapshotInfo ?? snapshotInfo(String(source.power_state))) : {},
    snapshot_metadata: isSnapshot ? vmToString(source) : '',
    transportable_snapshot_id: '',
    // Clones and copies are new top-level VMs (CA-52668); a snapshot shares the VM's parent.
    parent: isSnapshot ? source.parent : NULL_REF,
    resident_on: NULL_REF,
    scheduled_to_be_resident_on: NULL_REF,
    suspend_VDI: NULL_REF,
    other_config: otherConfig,
    metrics: copyMetrics(core, 'VM_metrics', String(source.metrics)),
    guest_metrics: copyMetrics(core, 'VM_guest_metrics', String(source.guest_metrics)),
    domid: -1,
    domarch: '',
    blobs: {},
    ha_always_run: false,
    protection_policy: NULL_REF,
    is_snapshot_from_vmpp: false,
    is_vmss_snapshot: false,
    snapshot_schedule: NULL_REF,
    appliance: NULL_REF,
    start_delay: 0,
    shutdown_delay: 0,
    order: 0,
    suspend_SR: NULL_REF,
    version: 0,
    generation_id: freshGenerationId(String(source.generation_id)),
    requires_reboot: false,
    pending_guidances: [],
    pending_guidances_recommended: [],
    pending_guidances_full: [],
  })
  if (isSnapshot) db.update('VM', vm, { parent: ref })
  return ref
}

/** A copy of `vbd` for `vm` on `vdi` (NULL for an empty drive); disks are owned by the new VM. */
export function copyVbd(core: SimulatorCore, vbd: string, vm: string, vdi: string): string {
  const { db } = core
  const { uuid: _uuid, ...source } = db.get('VBD', vbd)
  const otherConfig = { ...(source.other_config as Record<string, string>) }
  if (source.type === 'Disk') otherConfig.owner ??= ''
  const ref = db.create('VBD', {
    ...source,
    VM: vm,
    VDI: vdi,
    empty: source.empty === true || isNullRef(vdi),
    other_config: otherConfig,
    allowed_operations: [],
    current_operations: {},
    storage_lock: false,
    status_code: 0,
    status_detail: '',
    runtime_properties: {},
    qos_supported_algorithms: [],
    metrics: NULL_REF,
  })
  updateVbdAllowedOperations(core, ref)
  return ref
}

/** A copy of `vif` for `vm`: same MAC for snapshots, a new one from the new VM's seed otherwise. */
export function copyVif(core: SimulatorCore, vif: string, vm: string, preserveMac: boolean): string {
  const { db } = core
  const { uuid: _uuid, ...source } = db.get('VIF', vif)
  if (!preserveMac) return createVif(core, { ...source, VM: vm, MAC: '' })
  return db.create('VIF', { ...source, VM: vm, allowed_operations: [], current_operations: {}, metrics: NULL_REF })
}

/**
 * The new VM is complete: its operation leaves `current_operations` and its devices match its power
 * state (`force_state_reset`: a halted VM has nothing attached).
 */
export function completeVmCopy(core: SimulatorCore, vm: string, operationKey: string): void {
  const { db } = core
  const record = db.get('VM', vm)
  const { [operationKey]: _done, ...rest } = record.current_operations as Readonly<Record<string, string>>
  db.update('VM', vm, { current_operations: rest })
  if (record.power_state === 'Halted') {
    for (const vbd of record.VBDs as readonly string[]) {
      db.update('VBD', vbd, { currently_attached: false })
      updateVbdAllowedOperations(core, vbd)
    }
    for (const vif of record.VIFs as readonly string[]) db.update('VIF', vif, { currently_attached: false })
  }
  updateVmAllowedOperations(db, vm)
}
