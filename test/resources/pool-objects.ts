import { storeKey } from '../../provider/pool/policy-store'
import { idForName, type NamedKind } from '../../provider/pool/store-ids'
import type { RunningSimulator } from '../../simulator'

/**
 * Objects the simulator's XAPI methods cannot make yet (VM.snapshot and the storage methods arrive with the
 * storage integration): snapshot VMs with their snapshot disks, replica VMs, hidden VHD chains. Written
 * into the simulator's database directly, with the fields XAPI gives them, so what the providers read
 * through the real client is what a pool would show.
 */

type Db = RunningSimulator['core']['db']

function vmRef(db: Db, name: string): string {
  const [ref] = db.filter(
    'VM',
    (vm) => vm.name_label === name && vm.is_a_snapshot !== true && vm.is_a_template !== true,
  )
  if (ref === undefined) throw new Error(`no VM named ${name}`)
  return ref
}

function srRef(db: Db, name: string): string {
  const [ref] = db.filter('SR', (sr) => sr.name_label === name)
  if (ref === undefined) throw new Error(`no SR named ${name}`)
  return ref
}

function disksOf(db: Db, vm: string): string[] {
  return (db.field<string[]>('VM', vm, 'VBDs') ?? [])
    .map((vbd) => db.get('VBD', vbd))
    .filter((vbd) => vbd.type === 'Disk' && vbd.empty !== true)
    .map((vbd) => String(vbd.VDI))
}

function newVdi(db: Db, values: Record<string, unknown>): string {
  return db.create('VDI', { type: 'user', managed: true, sm_config: { vdi_type: 'vhd' }, ...values })
}

function attach(db: Db, vm: string, vdi: string, userdevice: string): void {
  db.create('VBD', { VM: vm, VDI: vdi, type: 'Disk', mode: 'RW', userdevice, bootable: false, empty: false })
}

/** A snapshot of a VM, with a snapshot copy of each of its disks; returns the snapshot's uuid. */
export function makeSnapshot(
  sim: RunningSimulator,
  vmName: string,
  options: { name: string; otherConfig?: Record<string, string> },
): { uuid: string; vdiUuids: string[] } {
  const { db } = sim.core
  const vm = vmRef(db, vmName)
  const source = db.get('VM', vm)
  const snapshot = db.create('VM', {
    name_label: options.name,
    is_a_snapshot: true,
    snapshot_of: vm,
    snapshot_time: '20261120T02:00:00Z',
    power_state: 'Halted',
    memory_static_max: source.memory_static_max,
    other_config: options.otherConfig ?? {},
    tags: source.tags,
  })
  const vdiUuids: string[] = []
  for (const [index, disk] of disksOf(db, vm).entries()) {
    const original = db.get('VDI', disk)
    const copy = newVdi(db, {
      name_label: original.name_label,
      SR: original.SR,
      virtual_size: original.virtual_size,
      is_a_snapshot: true,
      snapshot_of: disk,
      read_only: false,
    })
    attach(db, snapshot, copy, String(index))
    vdiUuids.push(String(db.get('VDI', copy).uuid))
  }
  return { uuid: String(db.get('VM', snapshot).uuid), vdiUuids }
}

/** A replica VM on an SR, as continuous replication leaves it: start blocked, marked with what it copies. */
export function makeReplica(sim: RunningSimulator, options: { name: string; sr: string; copyOf: string }): string {
  const { db } = sim.core
  const sr = srRef(db, options.sr)
  const replica = db.create('VM', {
    name_label: options.name,
    power_state: 'Halted',
    tags: ['Continuous Replication'],
    blocked_operations: { start: 'Start operation for this vm is blocked, clone it if you want to use it.' },
    other_config: { 'xo:copy_of': options.copyOf, 'xo:backup:sr': String(db.get('SR', sr).uuid) },
  })
  attach(db, replica, newVdi(db, { name_label: `${options.name} disk`, SR: sr, virtual_size: 2 ** 30 }), '0')
  return String(db.get('VM', replica).uuid)
}

/** Gives the VM's first disk a VHD chain of `length` (itself included): hidden parents on the same SR. */
export function lengthenChain(sim: RunningSimulator, vmName: string, length: number): void {
  const { db } = sim.core
  const leaf = disksOf(db, vmRef(db, vmName))[0]
  if (leaf === undefined) throw new Error(`${vmName} has no disk`)
  const record = db.get('VDI', leaf)
  let child = leaf
  for (let i = 1; i < length; i++) {
    const parent = newVdi(db, {
      name_label: 'base copy',
      SR: record.SR,
      virtual_size: record.virtual_size,
      managed: false,
    })
    const sm = db.get('VDI', child).sm_config as Record<string, string>
    db.update('VDI', child, { sm_config: { ...sm, 'vhd-parent': String(db.get('VDI', parent).uuid) } })
    child = parent
  }
}

export function vmTagsOf(sim: RunningSimulator, vmName: string): string[] {
  const { db } = sim.core
  return [...(db.field<string[]>('VM', vmRef(db, vmName), 'tags') ?? [])]
}

export function vmExists(sim: RunningSimulator, uuid: string): boolean {
  return sim.core.db.findByUuid(uuid) !== undefined
}

export function poolOtherConfig(sim: RunningSimulator): Record<string, string> {
  const { db } = sim.core
  const [pool] = db.refs('pool')
  return { ...(db.field<Record<string, string>>('pool', pool!, 'other_config') ?? {}) }
}

export function secretValues(sim: RunningSimulator): Map<string, string> {
  const { db } = sim.core
  return new Map(
    db.refs('secret').map((ref) => [String(db.get('secret', ref).uuid), String(db.get('secret', ref).value)]),
  )
}

/** The other_config key of a named policy object. */
export function keyOf(kind: NamedKind | 'JobStatus', name: string): string {
  return kind === 'JobStatus' ? storeKey(kind, idForName('BackupJob', name)) : storeKey(kind, idForName(kind, name))
}
