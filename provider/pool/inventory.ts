import type { Xapi } from 'xen-api'
import type { VmFacts } from '../policy/selection'

/**
 * A consistent-enough picture of one pool, read fresh with one `get_all_records` per class: what the
 * providers' checks and reads, and drift rules, need to know about VMs, SRs and disks. Only the fields used
 * are typed; numbers are coerced because XML-RPC sends 64-bit integers as strings.
 */

export interface PoolRecord {
  ref: string
  uuid: string
  name: string
  otherConfig: Readonly<Record<string, string>>
}

export interface VmRecord {
  ref: string
  uuid: string
  name: string
  powerState: string
  tags: readonly string[]
  isTemplate: boolean
  isSnapshot: boolean
  isControlDomain: boolean
  /** The VM a snapshot was taken of (a ref, possibly gone or OpaqueRef:NULL). */
  snapshotOf: string
  otherConfig: Readonly<Record<string, string>>
  blockedOperations: Readonly<Record<string, string>>
  vbds: readonly string[]
}

export interface SrRecord {
  ref: string
  uuid: string
  name: string
  type: string
  contentType: string
  size: number
  used: number
  smConfig: Readonly<Record<string, string>>
}

export interface VdiRecord {
  ref: string
  uuid: string
  name: string
  sr: string
  virtualSize: number
  managed: boolean
  isSnapshot: boolean
  smConfig: Readonly<Record<string, string>>
  otherConfig: Readonly<Record<string, string>>
  vbds: readonly string[]
}

export interface VbdRecord {
  ref: string
  vm: string
  vdi: string
  type: string
  empty: boolean
}

const NULL_REF = 'OpaqueRef:NULL'

/** SR types whose VDIs are fully allocated (LVM family): a snapshot reserves a whole new leaf. */
const THICK_TYPES = new Set(['lvm', 'lvmoiscsi', 'lvmohba', 'lvmofcoe'])

type Raw = Record<string, unknown>

export class PoolInventory {
  readonly vms: ReadonlyMap<string, VmRecord>
  readonly srs: ReadonlyMap<string, SrRecord>
  readonly vdis: ReadonlyMap<string, VdiRecord>
  readonly vbds: ReadonlyMap<string, VbdRecord>
  readonly #vdiByUuid: ReadonlyMap<string, VdiRecord>

  constructor(
    readonly pool: PoolRecord,
    records: { vms: VmRecord[]; srs: SrRecord[]; vdis: VdiRecord[]; vbds: VbdRecord[] },
  ) {
    this.vms = new Map(records.vms.map((vm) => [vm.ref, vm]))
    this.srs = new Map(records.srs.map((sr) => [sr.ref, sr]))
    this.vdis = new Map(records.vdis.map((vdi) => [vdi.ref, vdi]))
    this.vbds = new Map(records.vbds.map((vbd) => [vbd.ref, vbd]))
    this.#vdiByUuid = new Map(records.vdis.map((vdi) => [vdi.uuid, vdi]))
  }

  /** Real VMs and snapshots alike, as selection rules see them. */
  vmFacts(): VmFacts[] {
    return [...this.vms.values()].map((vm) => ({
      uuid: vm.uuid,
      name_label: vm.name,
      power_state: vm.powerState,
      tags: vm.tags,
      poolUuid: this.pool.uuid,
      poolName: this.pool.name,
      is_a_template: vm.isTemplate,
      is_a_snapshot: vm.isSnapshot,
      is_control_domain: vm.isControlDomain,
      other_config: vm.otherConfig,
      blocked_operations: vm.blockedOperations,
    }))
  }

  vmByUuid(uuid: string): VmRecord | undefined {
    for (const vm of this.vms.values()) if (vm.uuid === uuid) return vm
    return undefined
  }

  srByUuid(uuid: string): SrRecord | undefined {
    for (const sr of this.srs.values()) if (sr.uuid === uuid) return sr
    return undefined
  }

  vdiByUuid(uuid: string): VdiRecord | undefined {
    return this.#vdiByUuid.get(uuid)
  }

  /** The disks (not CD drives) a VM uses, in VBD order. */
  disksOf(vmRef: string): VdiRecord[] {
    const vm = this.vms.get(vmRef)
    if (vm === undefined) return []
    const disks: VdiRecord[] = []
    for (const vbdRef of vm.vbds) {
      const vbd = this.vbds.get(vbdRef)
      if (vbd === undefined || vbd.empty || vbd.type !== 'Disk' || vbd.vdi === NULL_REF) continue
      const vdi = this.vdis.get(vbd.vdi)
      if (vdi !== undefined) disks.push(vdi)
    }
    return disks
  }

  /** VMs whose disks include this VDI. */
  vmsUsing(vdiRef: string): VmRecord[] {
    const vdi = this.vdis.get(vdiRef)
    if (vdi === undefined) return []
    return vdi.vbds.flatMap((vbdRef) => {
      const vm = this.vms.get(this.vbds.get(vbdRef)?.vm ?? NULL_REF)
      return vm === undefined ? [] : [vm]
    })
  }

  /**
   * How many VHDs the disk's chain holds, itself included: the walk up `sm_config['vhd-parent']`, as the
   * storage manager counts it (snapshots fail from 30 on, SR_BACKEND_FAILURE_109).
   */
  chainLength(vdi: VdiRecord): number {
    const seen = new Set<string>()
    let current: VdiRecord | undefined = vdi
    while (current !== undefined && !seen.has(current.uuid)) {
      seen.add(current.uuid)
      const parent: string | undefined = current.smConfig['vhd-parent']
      current = parent === undefined ? undefined : this.#vdiByUuid.get(parent)
    }
    return seen.size
  }
}

export function isThick(sr: SrRecord): boolean {
  return THICK_TYPES.has(sr.type) || sr.smConfig.allocation === 'thick'
}

export async function readPoolRecord(xapi: Xapi): Promise<PoolRecord> {
  const records = await xapi.call<Record<string, Raw>>('pool.get_all_records')
  const [ref, pool] = Object.entries(records)[0] ?? []
  if (ref === undefined || pool === undefined) throw new Error('the pool has no pool object')
  return {
    ref,
    uuid: String(pool.uuid),
    name: String(pool.name_label),
    otherConfig: map(pool.other_config),
  }
}

/** Reads the pool's VMs, SRs, VDIs and VBDs (four calls, all records each). */
export async function readInventory(xapi: Xapi): Promise<PoolInventory> {
  const [pool, vms, srs, vdis, vbds] = await Promise.all([
    readPoolRecord(xapi),
    xapi.call<Record<string, Raw>>('VM.get_all_records'),
    xapi.call<Record<string, Raw>>('SR.get_all_records'),
    xapi.call<Record<string, Raw>>('VDI.get_all_records'),
    xapi.call<Record<string, Raw>>('VBD.get_all_records'),
  ])
  return new PoolInventory(pool, {
    vms: Object.entries(vms).map(([ref, vm]) => ({
      ref,
      uuid: String(vm.uuid),
      name: String(vm.name_label),
      powerState: String(vm.power_state),
      tags: strings(vm.tags),
      isTemplate: vm.is_a_template === true,
      isSnapshot: vm.is_a_snapshot === true,
      isControlDomain: vm.is_control_domain === true,
      snapshotOf: String(vm.snapshot_of ?? NULL_REF),
      otherConfig: map(vm.other_config),
      blockedOperations: map(vm.blocked_operations),
      vbds: strings(vm.VBDs),
    })),
    srs: Object.entries(srs).map(([ref, sr]) => ({
      ref,
      uuid: String(sr.uuid),
      name: String(sr.name_label),
      type: String(sr.type),
      contentType: String(sr.content_type),
      size: Number(sr.physical_size),
      used: Number(sr.physical_utilisation),
      smConfig: map(sr.sm_config),
    })),
    vdis: Object.entries(vdis).map(([ref, vdi]) => ({
      ref,
      uuid: String(vdi.uuid),
      name: String(vdi.name_label),
      sr: String(vdi.SR),
      virtualSize: Number(vdi.virtual_size),
      managed: vdi.managed !== false,
      isSnapshot: vdi.is_a_snapshot === true,
      smConfig: map(vdi.sm_config),
      otherConfig: map(vdi.other_config),
      vbds: strings(vdi.VBDs),
    })),
    vbds: Object.entries(vbds).map(([ref, vbd]) => ({
      ref,
      vm: String(vbd.VM),
      vdi: String(vbd.VDI),
      type: String(vbd.type),
      empty: vbd.empty === true,
    })),
  })
}

function map(value: unknown): Record<string, string> {
  return value !== null && typeof value === 'object' ? (value as Record<string, string>) : {}
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : []
}
