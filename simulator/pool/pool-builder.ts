import type { SimulatorCore } from '../core'
import type { Fixture, FixtureTemplate, FixtureVm } from '../fixtures/fixture-schema'
import type { DiskProvisioner } from '../integration/disk-provisioner'
import { createVbd } from '../methods/vbd'
import { createVif } from '../methods/vif'
import { createVm } from '../methods/vm'
import { updateVmAllowedOperations } from '../methods/vm-operations'
import { bootVm } from '../methods/vm-power'
import { NULL_REF } from '../model/values'
import { createDefaultTemplates } from './default-templates'
import { cpuInfo, createHost } from './host-builder'
import { machineRecord } from './machine-record'
import { createNetwork } from './network-builder'
import { createSmDrivers, createSr } from './storage-builder'

/** Refs of the named objects a fixture declares, for the steps that refer to them. */
interface Names {
  readonly hosts: Map<string, string>
  readonly srs: Map<string, string>
  readonly networks: Map<string, string>
  readonly isos: Map<string, string>
}

/**
 * Populates an empty database with the pool a fixture describes, the way a freshly installed pool
 * looks to XAPI clients: hosts with dom0 and metrics, SM plugins, SRs and PBDs, networks and PIFs,
 * default templates, then the fixture's templates and VMs (running ones booted on their host).
 * Disk and ISO VDIs come from `provisioner` (the storage engine once integrated).
 */
export async function buildPool(core: SimulatorCore, fixture: Fixture, provisioner: DiskProvisioner): Promise<void> {
  const { db } = core
  const names: Names = { hosts: new Map(), srs: new Map(), networks: new Map(), isos: new Map() }
  fixture.hosts.forEach((host, i) => {
    names.hosts.set(host.name, createHost(core, host, host.address ?? `127.0.0.${i + 1}`))
  })
  const master = names.hosts.get(fixture.hosts[0]!.name)!
  const totalCpus = fixture.hosts.reduce((sum, host) => sum + host.cpus, 0)
  db.create('pool', {
    name_label: fixture.pool.name,
    name_description: fixture.pool.description,
    master,
    other_config: { 'memory-ratio-hvm': '0.25', 'memory-ratio-pv': '0.25' },
    restrictions: {
      restrict_vswitch_controller: 'false',
      restrict_lab: 'false',
      restrict_pooling: 'false',
      restrict_cbt: 'false',
      restrict_dr: 'false',
      restrict_vtpm: 'false',
    },
    cpu_info: { ...cpuInfo(totalCpus), socket_count: String(fixture.hosts.length) },
    allowed_operations: [
      'ha_enable',
      'cluster_create',
      'designate_new_master',
      'configure_repositories',
      'sync_updates',
      'get_updates',
      'apply_updates',
      'cert_refresh',
      'exchange_certificates_on_join',
      'exchange_ca_certificates_on_join',
      'copy_primary_host_certs',
    ],
    tls_verification_enabled: true,
    uefi_certificates: '',
    custom_uefi_certificates: '',
    local_auth_max_threads: 8,
    ext_auth_max_threads: 1,
    ha_cluster_stack: 'xhad',
    guest_agent_config: {},
  })

  createSmDrivers(
    core,
    fixture.srs.map((sr) => sr.type),
  )
  for (const [i, sr] of fixture.srs.entries()) {
    const ref = createSr(core, sr, i, names.hosts)
    names.srs.set(sr.name, ref)
    await provisioner.createInitialSr(core, ref)
  }
  for (const [i, network] of fixture.networks.entries()) {
    names.networks.set(network.name, createNetwork(core, network, i, names.hosts))
  }

  for (const sr of fixture.srs) {
    for (const iso of sr.isos) {
      const vdi = await provisioner.createInitialDisk(core, {
        sr: names.srs.get(sr.name)!,
        nameLabel: iso.name,
        nameDescription: '',
        virtualSize: iso.size,
        usedFraction: 1,
        kind: 'iso',
      })
      names.isos.set(iso.name, vdi)
    }
  }

  const defaultSr = fixture.srs.find((sr) => sr.default) ?? fixture.srs.find((sr) => sr.type !== 'iso')
  const defaultSrRef = defaultSr === undefined ? NULL_REF : names.srs.get(defaultSr.name)!
  db.update('pool', db.refs('pool')[0]!, {
    default_SR: defaultSrRef,
    suspend_image_SR: defaultSrRef,
    crash_dump_SR: defaultSrRef,
  })
  for (const host of names.hosts.values()) {
    db.update('host', host, { suspend_image_sr: defaultSrRef, crash_dump_sr: defaultSrRef })
  }

  createDefaultTemplates(core)
  for (const template of fixture.templates) await createMachine(core, provisioner, names, template, true)
  for (const vm of fixture.vms) await createMachine(core, provisioner, names, vm, false)
}

async function createMachine(
  core: SimulatorCore,
  provisioner: DiskProvisioner,
  names: Names,
  machine: FixtureVm | FixtureTemplate,
  isTemplate: boolean,
): Promise<string> {
  const { db } = core
  const host = 'host' in machine && machine.host !== undefined ? names.hosts.get(machine.host) : undefined
  const vm = createVm(
    core,
    machineRecord({
      nameLabel: machine.name,
      nameDescription: machine.description,
      memory: machine.memory,
      vcpus: machine.vcpus,
      isTemplate,
      affinity: host,
      tags: machine.tags,
      otherConfig: {
        base_template_name: 'Debian Bookworm 12',
        'install-methods': 'cdrom,nfs,http,ftp',
        ...machine.otherConfig,
      },
    }),
  )
  for (const [i, disk] of machine.disks.entries()) {
    const vdi = await provisioner.createInitialDisk(core, {
      sr: names.srs.get(disk.sr)!,
      nameLabel: disk.name ?? `${machine.name} ${i}`,
      nameDescription: disk.description,
      virtualSize: disk.size,
      usedFraction: disk.used,
      kind: 'disk',
    })
    createVbd(core, {
      VM: vm,
      VDI: vdi,
      userdevice: String(i >= 3 ? i + 1 : i), // 3 is the CD drive
      bootable: i === 0,
      mode: 'RW',
      type: 'Disk',
      unpluggable: false,
      empty: false,
      other_config: { owner: '' },
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    })
  }
  if (machine.cdrom !== false) {
    const iso = typeof machine.cdrom === 'string' ? names.isos.get(machine.cdrom)! : NULL_REF
    createVbd(core, {
      VM: vm,
      VDI: iso,
      userdevice: '3',
      bootable: false,
      mode: 'RO',
      type: 'CD',
      unpluggable: true,
      empty: typeof machine.cdrom !== 'string',
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    })
  }
  const networks = machine.networks ?? [[...names.networks.keys()][0]!]
  networks.forEach((network, device) => {
    createVif(core, {
      device: String(device),
      network: names.networks.get(network)!,
      VM: vm,
      MAC: '',
      MTU: db.get('network', names.networks.get(network)!).MTU,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    })
  })
  if (Object.keys(machine.blockedOperations).length > 0) {
    db.update('VM', vm, { blocked_operations: machine.blockedOperations })
  }
  if ('powerState' in machine && machine.powerState !== 'Halted') {
    await bootVm(core, vm, host ?? core.masterRef(), machine.powerState === 'Paused')
  }
  updateVmAllowedOperations(db, vm)
  return vm
}
