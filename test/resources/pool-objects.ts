import { createClient, type Xapi } from 'xen-api'
import { storeKey } from '../../provider/pool/policy-store'
import { idForName, type NamedKind } from '../../provider/pool/store-ids'
import type { RunningSimulator } from '../../simulator'

/**
 * Pool objects the tests need, made through XAPI as a pool would make them (snapshots with VM.snapshot,
 * replicas with VM.create/VDI.create/VBD.create), plus a few direct database edits where no XAPI call
 * can produce the state (a chain already 27 long).
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

async function withXapi<T>(sim: RunningSimulator, work: (xapi: Xapi) => Promise<T>): Promise<T> {
  const xapi = createClient({ url: sim.url, auth: { user: 'root', password: sim.password }, watchEvents: false })
  await xapi.connect()
  try {
    return await work(xapi)
  } finally {
    await xapi.disconnect()
  }
}

/** A snapshot of a VM taken with VM.snapshot, renamed and marked; returns its uuid and its disks' uuids. */
export async function makeSnapshot(
  sim: RunningSimulator,
  vmName: string,
  options: { name: string; otherConfig?: Record<string, string> },
): Promise<{ uuid: string; vdiUuids: string[] }> {
  const source = vmRef(sim.core.db, vmName)
  return withXapi(sim, async (xapi) => {
    const ref = await xapi.call<string>('VM.snapshot', source, options.name)
    for (const [key, value] of Object.entries(options.otherConfig ?? {})) {
      // A snapshot inherits its VM's other_config: replace the entry, as the client's setFieldEntry does.
      await xapi.call('VM.remove_from_other_config', ref, key)
      await xapi.call('VM.add_to_other_config', ref, key, value)
    }
    const { db } = sim.core
    return {
      uuid: String(db.get('VM', ref).uuid),
      vdiUuids: disksOf(db, ref).map((vdi) => String(db.get('VDI', vdi).uuid)),
    }
  })
}

/** A replica VM on an SR, as continuous replication leaves it: start blocked, marked with what it copies. */
export async function makeReplica(
  sim: RunningSimulator,
  options: { name: string; sr: string; copyOf: string },
): Promise<string> {
  const { db } = sim.core
  const sr = srRef(db, options.sr)
  return withXapi(sim, async (xapi) => {
    const vm = await xapi.call<string>('VM.create', {
      name_label: options.name,
      name_description: '',
      user_version: 1,
      is_a_template: false,
      affinity: 'OpaqueRef:NULL',
      memory_static_max: 2 ** 30,
      memory_dynamic_max: 2 ** 30,
      memory_dynamic_min: 2 ** 30,
      memory_static_min: 2 ** 30,
      VCPUs_params: {},
      VCPUs_max: 1,
      VCPUs_at_startup: 1,
      actions_after_shutdown: 'destroy',
      actions_after_reboot: 'restart',
      actions_after_crash: 'restart',
      PV_bootloader: '',
      PV_kernel: '',
      PV_ramdisk: '',
      PV_args: '',
      PV_bootloader_args: '',
      PV_legacy_args: '',
      HVM_boot_policy: 'BIOS order',
      HVM_boot_params: { order: 'cd' },
      platform: {},
      PCI_bus: '',
      other_config: { 'xo:copy_of': options.copyOf, 'xo:backup:sr': String(db.get('SR', sr).uuid) },
      recommendations: '',
      tags: ['Continuous Replication'],
      blocked_operations: {},
    })
    await xapi.call(
      'VM.add_to_blocked_operations',
      vm,
      'start',
      'Start operation for this vm is blocked, clone it if you want to use it.',
    )
    const vdi = await xapi.call<string>('VDI.create', {
      name_label: `${options.name} disk`,
      name_description: '',
      SR: sr,
      virtual_size: 2 ** 30,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
    })
    await xapi.call('VBD.create', {
      VM: vm,
      VDI: vdi,
      userdevice: '0',
      bootable: false,
      mode: 'RW',
      type: 'Disk',
      unpluggable: false,
      empty: false,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    })
    return String(db.get('VM', vm).uuid)
  })
}

function newVdi(db: Db, values: Record<string, unknown>): string {
  return db.create('VDI', { type: 'user', managed: true, sm_config: { vdi_type: 'vhd' }, ...values })
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
