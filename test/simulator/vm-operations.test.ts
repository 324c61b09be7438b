import { afterEach, describe, expect, it } from 'vitest'
import type { Xapi } from 'xen-api'
import { cached, connectedClient, eventually, findByName, startTestSimulator, stopAll } from './helpers'

afterEach(stopAll)

const GiB = 2 ** 30

/** A VM record as Xen Orchestra's `VM.create` sends it (replication and restore). */
function vmRecord(name: string): Record<string, unknown> {
  return {
    name_label: name,
    name_description: 'created by a test',
    user_version: 1,
    is_a_template: false,
    affinity: 'OpaqueRef:NULL',
    memory_static_max: 2 * GiB,
    memory_dynamic_max: 2 * GiB,
    memory_dynamic_min: GiB,
    memory_static_min: 512 * 2 ** 20,
    VCPUs_params: {},
    VCPUs_max: 2,
    VCPUs_at_startup: 2,
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
    platform: { viridian: 'false' },
    PCI_bus: '',
    other_config: { 'xo:backup:job': 'abc' },
    recommendations: '',
    xenstore_data: {},
    ha_always_run: false,
    ha_restart_priority: '',
    tags: ['replica'],
    blocked_operations: { start: 'importing' },
    protection_policy: 'OpaqueRef:NULL',
    is_snapshot_from_vmpp: false,
    snapshot_schedule: 'OpaqueRef:NULL',
    is_vmss_snapshot: false,
    appliance: 'OpaqueRef:NULL',
    start_delay: 0,
    shutdown_delay: 0,
    order: 0,
    suspend_SR: 'OpaqueRef:NULL',
    version: 0,
    generation_id: '',
    hardware_platform_version: 0,
    has_vendor_device: false,
    reference_label: '',
    domain_type: 'hvm',
    NVRAM: {},
    power_state: 'Halted',
  }
}

async function createVm(xapi: Xapi, name: string): Promise<string> {
  return xapi.call<string>('VM.create', vmRecord(name))
}

describe('VM lifecycle', () => {
  it('start sets the host, domid, metrics, guest metrics and attached devices; shutdown undoes them', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'legacy-app')
    expect(vm.allowed_operations).toContain('start')
    await xapi.callAsync('VM.start', vm.$ref, false, false)
    const running = sim.core.db.get('VM', vm.$ref)
    expect(running).toMatchObject({ power_state: 'Running', resident_on: String(vm.affinity) })
    expect(running.domid).toBeGreaterThan(0)
    expect(sim.core.db.get('VM_metrics', String(running.metrics))).toMatchObject({
      memory_actual: 2 * GiB,
      VCPUs_number: 1,
      state: ['running'],
    })
    expect(sim.core.db.get('VM_guest_metrics', String(running.guest_metrics))).toMatchObject({
      PV_drivers_detected: true,
      live: true,
    })
    const vbds = (running.VBDs as string[]).map((vbd) => sim.core.db.get('VBD', vbd))
    expect(vbds.map((vbd) => [vbd.type, vbd.device, vbd.currently_attached])).toEqual(
      expect.arrayContaining([
        ['Disk', 'xvda', true],
        ['CD', 'xvdd', true],
      ]),
    )
    expect(running.allowed_operations).toEqual(
      expect.arrayContaining(['clean_shutdown', 'hard_shutdown', 'snapshot', 'pause']),
    )
    expect(running.allowed_operations).not.toContain('start')
    expect(running.consoles).toHaveLength(1)

    await xapi.callAsync('VM.clean_shutdown', vm.$ref)
    const halted = sim.core.db.get('VM', vm.$ref)
    expect(halted).toMatchObject({
      power_state: 'Halted',
      resident_on: 'OpaqueRef:NULL',
      domid: -1,
      guest_metrics: 'OpaqueRef:NULL',
      consoles: [],
    })
    expect((halted.VBDs as string[]).every((vbd) => sim.core.db.get('VBD', vbd).currently_attached === false)).toBe(
      true,
    )
  })

  it('pause, unpause, reboot and hard shutdown follow the power-state rules', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'web-01')
    const domid = Number(vm.domid)
    await xapi.callAsync('VM.pause', vm.$ref)
    expect(sim.core.db.get('VM', vm.$ref).power_state).toBe('Paused')
    await expect(xapi.callAsync('VM.clean_shutdown', vm.$ref)).rejects.toMatchObject({
      code: 'VM_BAD_POWER_STATE',
      params: [vm.$ref, 'running', 'paused'],
    })
    await xapi.callAsync('VM.unpause', vm.$ref)
    await xapi.callAsync('VM.clean_reboot', vm.$ref)
    expect(sim.core.db.get('VM', vm.$ref).domid).not.toBe(domid)
    await xapi.callAsync('VM.hard_shutdown', vm.$ref)
    expect(sim.core.db.get('VM', vm.$ref).power_state).toBe('Halted')
  })

  it('VM.create makes a Halted VM with metrics and a MAC seed, ignoring blocked_operations as XAPI does', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = await createVm(xapi, 'replica')
    const record = sim.core.db.get('VM', vm)
    expect(record).toMatchObject({
      name_label: 'replica',
      power_state: 'Halted',
      is_a_template: false,
      is_control_domain: false,
      tags: ['replica'],
      blocked_operations: {},
      domid: -1,
      VBDs: [],
      snapshot_of: 'OpaqueRef:NULL',
    })
    expect((record.other_config as Record<string, string>).mac_seed).toMatch(/^[0-9a-f-]{36}$/)
    expect(sim.core.db.exists('VM_metrics', String(record.metrics))).toBe(true)
    await eventually(() => cached(xapi, 'VM').some((v) => v.$ref === vm), 5000, 'the new VM in the cache')
    await xapi.call('VM.add_to_blocked_operations', vm, 'start', 'importing')
    expect(sim.core.db.get('VM', vm).allowed_operations).not.toContain('start')
  })

  it('VM.destroy removes the VM, its VBDs, VIFs and metrics, and keeps its VDIs', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'legacy-app')
    const record = sim.core.db.get('VM', vm.$ref)
    const vbds = record.VBDs as string[]
    const vdis = vbds.map((vbd) => String(sim.core.db.get('VBD', vbd).VDI)).filter((vdi) => vdi !== 'OpaqueRef:NULL')
    await xapi.callAsync('VM.destroy', vm.$ref)
    expect(sim.core.db.exists('VM', vm.$ref)).toBe(false)
    expect(vbds.some((vbd) => sim.core.db.exists('VBD', vbd))).toBe(false)
    expect((record.VIFs as string[]).some((vif) => sim.core.db.exists('VIF', vif))).toBe(false)
    expect(sim.core.db.exists('VM_metrics', String(record.metrics))).toBe(false)
    expect(vdis.length).toBeGreaterThan(0)
    expect(
      vdis.every(
        (vdi) => sim.core.db.exists('VDI', vdi) && (sim.core.db.get('VDI', vdi).VBDs as string[]).length === 0,
      ),
    ).toBe(true)
    await eventually(() => xapi.getObjectByRef(vm.$ref, null) === null, 5000, 'the del event')
    await expect(xapi.callAsync('VM.destroy', findByName(xapi, 'VM', 'web-01').$ref)).rejects.toMatchObject({
      code: 'VM_BAD_POWER_STATE',
    })
  })

  it('set_memory_limits checks the order of the limits', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'legacy-app')
    await xapi.call('VM.set_memory_limits', vm.$ref, GiB, 4 * GiB, 2 * GiB, 4 * GiB)
    expect(sim.core.db.get('VM', vm.$ref)).toMatchObject({
      memory_static_min: GiB,
      memory_static_max: 4 * GiB,
      memory_dynamic_min: 2 * GiB,
      memory_dynamic_max: 4 * GiB,
    })
    await expect(xapi.call('VM.set_memory_limits', vm.$ref, 4 * GiB, GiB, GiB, GiB)).rejects.toMatchObject({
      code: 'MEMORY_CONSTRAINT_VIOLATION_ORDER',
      params: [],
    })
    await expect(
      xapi.call('VM.set_memory_limits', findByName(xapi, 'VM', 'web-01').$ref, GiB, GiB, GiB, GiB),
    ).rejects.toMatchObject({ code: 'VM_BAD_POWER_STATE' })
  })

  it('set_is_a_template(false) on a template and the explicit setters XO uses on replicas', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = await createVm(xapi, 'replica')
    await xapi.call('VM.set_VCPUs_max', vm, 4)
    await xapi.call('VM.set_VCPUs_at_startup', vm, 3)
    await expect(xapi.call('VM.set_VCPUs_at_startup', vm, 8)).rejects.toMatchObject({ code: 'VALUE_NOT_SUPPORTED' })
    await xapi.call('VM.set_HVM_boot_policy', vm, 'BIOS order')
    await xapi.call('VM.set_bios_strings', vm, { 'bios-vendor': 'Xen' })
    await xapi.call('VM.set_ha_restart_priority', vm, '')
    await xapi.call('VM.set_is_a_template', vm, true)
    expect(sim.core.db.get('VM', vm)).toMatchObject({
      VCPUs_max: 4,
      VCPUs_at_startup: 3,
      is_a_template: true,
      bios_strings: { 'bios-vendor': 'Xen' },
    })
    await xapi.call('VM.set_is_a_template', vm, false)
    expect(sim.core.db.get('VM', vm).is_a_template).toBe(false)
  })
})

describe('devices', () => {
  it('VBD.create checks devices and CD rules; VM.get_allowed_VBD_devices lists the free ones', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = await createVm(xapi, 'with disks')
    const vdi = findByName(xapi, 'VDI', 'legacy-app root').$ref
    const base = {
      VM: vm,
      VDI: vdi,
      bootable: true,
      mode: 'RW',
      type: 'Disk',
      empty: false,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    }
    const devices = await xapi.call<string[]>('VM.get_allowed_VBD_devices', vm)
    expect(devices).toHaveLength(255)
    expect(devices[0]).toBe('0')
    const vbd = await xapi.call<string>('VBD.create', { ...base, userdevice: '0' })
    expect(sim.core.db.get('VBD', vbd)).toMatchObject({
      userdevice: '0',
      device: '',
      currently_attached: false,
      unpluggable: true,
    })
    expect(await xapi.call<string[]>('VM.get_allowed_VBD_devices', vm)).not.toContain('0')
    await expect(xapi.call('VBD.create', { ...base, userdevice: 'xvda' })).rejects.toMatchObject({
      code: 'DEVICE_ALREADY_EXISTS',
      params: ['xvda'],
    })
    await expect(xapi.call('VBD.create', { ...base, userdevice: 'nonsense' })).rejects.toMatchObject({
      code: 'INVALID_DEVICE',
      params: ['nonsense'],
    })
    await expect(xapi.call('VBD.create', { ...base, userdevice: '3', type: 'CD' })).rejects.toMatchObject({
      code: 'VBD_CDS_MUST_BE_READONLY',
    })
    await expect(
      xapi.call('VBD.create', { ...base, userdevice: '3', VDI: 'OpaqueRef:NULL', empty: true }),
    ).rejects.toMatchObject({
      code: 'VBD_NOT_REMOVABLE_MEDIA',
      params: ['in constructor'],
    })
    await expect(xapi.call('VBD.create', { ...base, userdevice: '4', VDI: 'OpaqueRef:gone' })).rejects.toMatchObject({
      code: 'HANDLE_INVALID',
      params: ['VDI', 'OpaqueRef:gone'],
    })
    const cd = await xapi.call<string>('VBD.create', {
      ...base,
      userdevice: '3',
      type: 'CD',
      mode: 'RO',
      VDI: 'OpaqueRef:NULL',
      empty: true,
    })
    expect(sim.core.db.get('VBD', cd).allowed_operations).toContain('insert')
    await xapi.call('VBD.destroy', vbd)
    expect(sim.core.db.get('VM', vm).VBDs).toEqual([cd])
  })

  it('VBD.destroy refuses a VBD attached to a running VM', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const web = sim.core.db.get('VM', findByName(xapi, 'VM', 'web-01').$ref)
    const [vbd] = web.VBDs as string[]
    await expect(xapi.call('VBD.destroy', vbd)).rejects.toMatchObject({
      code: 'OPERATION_NOT_ALLOWED',
      params: [expect.stringMatching(/^VBD '.*' still attached to '.*'$/)],
    })
  })

  it('VIF.create generates the MAC from the VM seed and refuses duplicate devices', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = await createVm(xapi, 'with vifs')
    const network = cached(xapi, 'network')[0]!.$ref
    const vif = await xapi.call<string>('VIF.create', {
      device: '0',
      network,
      VM: vm,
      MAC: '',
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    })
    expect(sim.core.db.get('VIF', vif)).toMatchObject({ MAC_autogenerated: true, device: '0', network, VM: vm })
    expect(String(sim.core.db.get('VIF', vif).MAC)).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/)
    await expect(
      xapi.call('VIF.create', {
        device: '0',
        network,
        VM: vm,
        MAC: '',
        MTU: 1500,
        other_config: {},
        qos_algorithm_type: '',
        qos_algorithm_params: {},
      }),
    ).rejects.toMatchObject({ code: 'DEVICE_ALREADY_EXISTS', params: ['0'] })
    await expect(
      xapi.call('VIF.create', {
        device: '1',
        network,
        VM: vm,
        MAC: 'zz',
        MTU: 1500,
        other_config: {},
        qos_algorithm_type: '',
        qos_algorithm_params: {},
      }),
    ).rejects.toMatchObject({ code: 'MAC_INVALID', params: ['zz'] })
    expect(await xapi.call<string[]>('VM.get_allowed_VIF_devices', vm)).not.toContain('0')
    await xapi.call('VIF.destroy', vif)
    expect(sim.core.db.get('network', network).VIFs).not.toContain(vif)
  })
})

describe('secrets, messages and blobs', () => {
  it('stores secrets and reads them back by uuid', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const secret = await xapi.call<string>('secret.create', {
      value: 'p4ss',
      other_config: { 'xcp-backup:remote': 'nas' },
    })
    const uuid = await xapi.call<string>('secret.get_uuid', secret)
    expect(await xapi.call('secret.get_by_uuid', uuid)).toBe(secret)
    expect(await xapi.call('secret.get_value', secret)).toBe('p4ss')
    await xapi.call('secret.set_value', secret, 'rotated')
    expect(await xapi.call('secret.get_value', secret)).toBe('rotated')
    await xapi.call('secret.destroy', secret)
    await expect(xapi.call('secret.get_by_uuid', uuid)).rejects.toMatchObject({
      code: 'UUID_INVALID',
      params: ['secret', uuid],
    })
  })

  it('creates messages about existing objects only, and lists them', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'web-01')
    const message = await xapi.call<string>('message.create', 'VM_BACKUP_FAILED', 3, 'VM', vm.uuid, 'failed')
    await expect(
      xapi.call('message.create', 'X', 1, 'VM', '00000000-0000-0000-0000-000000000000', ''),
    ).rejects.toMatchObject({
      code: 'UUID_INVALID',
      params: ['VM', '00000000-0000-0000-0000-000000000000'],
    })
    const all = await xapi.call<Record<string, Record<string, unknown>>>('message.get_all_records')
    expect(all[message]).toMatchObject({
      name: 'VM_BACKUP_FAILED',
      priority: 3,
      cls: 'VM',
      obj_uuid: vm.uuid,
      body: 'failed',
    })
    expect(Object.keys(await xapi.call<object>('message.get_since', '20000101T00:00:00Z'))).toEqual([message])
    await eventually(() => cached(xapi, 'message').some((m) => m.$ref === message), 5000, 'the message in the cache')
    await xapi.call('message.destroy', message)
    await eventually(() => !cached(xapi, 'message').some((m) => m.$ref === message), 5000, 'the message removal')
  })

  it('attaches blobs to their owner', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'web-01')
    const blob = await xapi.call<string>('VM.create_new_blob', vm.$ref, 'notes', 'text/plain', true)
    expect(sim.core.db.get('VM', vm.$ref).blobs).toEqual({ notes: blob })
    expect(sim.core.db.get('blob', blob)).toMatchObject({ name_label: 'notes', mime_type: 'text/plain', public: true })
    await xapi.call('blob.destroy', blob)
    expect(sim.core.db.get('VM', vm.$ref).blobs).toEqual({})
  })
})
