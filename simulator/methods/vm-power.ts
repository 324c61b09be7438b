import type { SimulatorCore } from '../core'
import type { XapiRecord } from '../db/database'
import { isNullRef, NULL_REF, xapiNow } from '../model/values'
import { updateVdiAllowedOperations } from './vdi-operations'
import { updateVmAllowedOperations } from './vm-operations'

/**
 * What a simulated domain does when it boots and when it goes away: power state, host residency,
 * domid, metrics, guest metrics (as if PV drivers were running), attached devices and the console.
 */

/** XAPI derives `domain_type` from the boot policy when it is unspecified. */
export function effectiveDomainType(vm: XapiRecord): string {
  const declared = String(vm.domain_type)
  if (declared !== 'unspecified') return declared
  return vm.HVM_boot_policy === '' ? 'pv' : 'hvm'
}

/** Linux device name for a VBD's userdevice number (`0` → `xvda`). */
export function deviceName(userdevice: string): string {
  const n = Number(userdevice)
  if (!Number.isInteger(n) || n < 0) return userdevice
  let name = ''
  let rest = n
  do {
    name = String.fromCharCode(97 + (rest % 26)) + name
    rest = Math.floor(rest / 26) - 1
  } while (rest >= 0)
  return `xvd${name}`
}

function nextDomid(core: SimulatorCore, host: string): number {
  const resident = core.db.get('host', host).resident_VMs as readonly string[]
  const used = resident.map((vm) => Number(core.db.find('VM', vm)?.domid ?? -1))
  return Math.max(0, ...used) + 1
}

/**
 * The domain starts: its disks are attached on the host first (all or none: a failure detaches those
 * already attached and nothing else changes), then the records show it running.
 */
export async function bootVm(core: SimulatorCore, vm: string, host: string, paused: boolean): Promise<void> {
  const { db } = core
  await attachVbds(core, db.get('VM', vm).VBDs as readonly string[])
  const record = db.get('VM', vm)
  const now = xapiNow()
  const domainType = effectiveDomainType(record)
  db.update('VM', vm, {
    power_state: paused ? 'Paused' : 'Running',
    resident_on: host,
    scheduled_to_be_resident_on: NULL_REF,
    domid: nextDomid(core, host),
    domarch: 'x64',
    last_boot_CPU_flags: { vendor: 'GenuineIntel', features: '1fcbfbff-f7fa3223-2d93fbff-00000023' },
  })
  const metrics = String(record.metrics)
  if (db.exists('VM_metrics', metrics)) {
    db.update('VM_metrics', metrics, {
      memory_actual: record.memory_dynamic_max,
      VCPUs_number: record.VCPUs_at_startup,
      VCPUs_utilisation: { '0': 0 },
      state: paused ? ['paused'] : ['running'],
      start_time: now,
      last_updated: now,
      current_domain_type: domainType,
      hvm: domainType === 'hvm',
    })
  }
  attachGuestMetrics(core, vm, record)
  for (const vbd of record.VBDs as readonly string[]) {
    const userdevice = String(db.get('VBD', vbd).userdevice)
    db.update('VBD', vbd, { currently_attached: true, device: deviceName(userdevice) })
    updateVdiAllowedOperations(db, String(db.get('VBD', vbd).VDI))
  }
  for (const vif of record.VIFs as readonly string[]) db.update('VIF', vif, { currently_attached: true })
  db.create('console', {
    protocol: 'rfb',
    location: `https://${String(db.get('host', host).address)}/console?uuid=${String(record.uuid)}`,
    VM: vm,
  })
  updateVmAllowedOperations(db, vm)
}

/** The guest side as XO sees a VM with its agent running: PV drivers, OS, addresses. */
function attachGuestMetrics(core: SimulatorCore, vm: string, record: XapiRecord): void {
  const { db } = core
  const previous = String(record.guest_metrics)
  if (!isNullRef(previous) && db.exists('VM_guest_metrics', previous)) db.destroy('VM_guest_metrics', previous)
  const networks: Record<string, string> = {}
  ;(record.VIFs as readonly string[]).forEach((vif, i) => {
    networks[`${String(db.get('VIF', vif).device)}/ip`] = `10.0.${i}.${(hash(String(record.uuid)) % 200) + 20}`
  })
  const guestMetrics = db.create('VM_guest_metrics', {
    os_version: {
      name: 'Debian GNU/Linux 12 (bookworm)',
      distro: 'debian',
      major: '12',
      minor: '8',
      uname: '6.1.0-28-amd64',
    },
    PV_drivers_version: { major: '9', minor: '4', micro: '0', build: '1' },
    PV_drivers_up_to_date: true,
    PV_drivers_detected: true,
    networks,
    other: {
      'feature-suspend': '1',
      'feature-poweroff': '1',
      'feature-reboot': '1',
      'feature-vcpu-hotplug': '1',
      'has-vendor-device': '0',
      platform: 'linux',
    },
    live: true,
    can_use_hotplug_vbd: 'yes',
    can_use_hotplug_vif: 'yes',
    last_updated: xapiNow(),
  })
  db.update('VM', vm, { guest_metrics: guestMetrics })
}

function hash(text: string): number {
  let h = 0
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) >>> 0
  return h
}

/** Attaches the VBDs' disks in order; on a failure detaches the ones done and rethrows. */
export async function attachVbds(core: SimulatorCore, vbds: readonly string[]): Promise<void> {
  const done: string[] = []
  try {
    for (const vbd of vbds) {
      await core.devices.attachVbd(core, vbd)
      done.push(vbd)
    }
  } catch (error) {
    for (const vbd of done.reverse()) await core.devices.detachVbd(core, vbd).catch(() => undefined)
    throw error
  }
}

/**
 * The domain is gone: `Halted`, no host, devices detached, guest metrics and console removed. A
 * suspended VM loses its suspend image.
 */
export async function haltVm(core: SimulatorCore, vm: string): Promise<void> {
  const { db } = core
  const before = db.get('VM', vm)
  for (const vbd of before.VBDs as readonly string[]) await core.devices.detachVbd(core, vbd)
  if (before.power_state === 'Suspended') {
    // XAPI logs a failure to destroy the image and forgets it anyway.
    await core.devices
      .discardSuspendImage(core, vm)
      .catch((error: unknown) => core.log(`could not destroy the suspend image of VM ${vm}: ${String(error)}`))
  }
  const record = db.get('VM', vm)
  db.update('VM', vm, {
    suspend_VDI: NULL_REF,
    power_state: 'Halted',
    resident_on: NULL_REF,
    scheduled_to_be_resident_on: NULL_REF,
    domid: -1,
    guest_metrics: NULL_REF,
  })
  const guestMetrics = String(record.guest_metrics)
  if (db.exists('VM_guest_metrics', guestMetrics)) db.destroy('VM_guest_metrics', guestMetrics)
  const metrics = String(record.metrics)
  if (db.exists('VM_metrics', metrics)) {
    db.update('VM_metrics', metrics, { memory_actual: 0, VCPUs_number: 0, state: [], last_updated: xapiNow() })
  }
  for (const vbd of record.VBDs as readonly string[]) {
    db.update('VBD', vbd, { currently_attached: false })
    updateVdiAllowedOperations(db, String(db.get('VBD', vbd).VDI))
  }
  for (const vif of record.VIFs as readonly string[]) db.update('VIF', vif, { currently_attached: false })
  for (const console of record.consoles as readonly string[])
    if (db.exists('console', console)) db.destroy('console', console)
  updateVmAllowedOperations(db, vm)
}

/** A Running VM's domain restarted: new domid, same host. */
export function rebootVm(core: SimulatorCore, vm: string): void {
  const host = String(core.db.get('VM', vm).resident_on)
  core.db.update('VM', vm, { domid: nextDomid(core, host), power_state: 'Running' })
  const metrics = String(core.db.get('VM', vm).metrics)
  if (core.db.exists('VM_metrics', metrics)) {
    core.db.update('VM_metrics', metrics, { start_time: xapiNow(), state: ['running'] })
  }
}

/** The host a VM starts on: its affinity when that is a live host, else the pool master. */
export function chooseHost(core: SimulatorCore, vm: XapiRecord): string {
  const affinity = String(vm.affinity)
  if (!isNullRef(affinity) && core.db.find('host', affinity)?.enabled === true) return affinity
  return core.masterRef()
}
