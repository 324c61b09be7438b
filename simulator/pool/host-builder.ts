import type { SimulatorCore } from '../core'
import type { FixtureHost } from '../fixtures/fixture-schema'
import { updateVmAllowedOperations } from '../methods/vm-operations'
import { NULL_REF, xapiNow } from '../model/values'

const GiB = 2 ** 30
/** Memory of each host's control domain. */
export const DOM0_MEMORY = 4 * GiB

const CPU = {
  vendor: 'GenuineIntel',
  speed: 2600,
  modelname: 'Intel(R) Xeon(R) Silver 4210 CPU @ 2.20GHz',
  family: 6,
  model: 85,
  stepping: '7',
  flags:
    'fpu de tsc msr pae mce cx8 apic sep mca cmov pat clflush acpi mmx fxsr sse sse2 ht syscall nx lm constant_tsc rep_good nopl nonstop_tsc cpuid pni pclmulqdq monitor est ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch',
  features: '1fcbfbff-f7fa3223-2d93fbff-00000123-00000001-000000ff-00000000-00000000-00001000-ac000400-00000000',
}

/** `host.software_version` as an XCP-ng 8.3 host reports it (xapi 26.4). */
export function softwareVersion(version: string, hostname: string): Record<string, string> {
  const [major, minor] = version.split('.')
  return {
    product_version: version,
    product_version_text: `${major}.${minor}`,
    product_version_text_short: `${major}.${minor}`,
    platform_name: 'XCP',
    platform_version: '3.4.0',
    product_brand: 'XCP-ng',
    build_number: 'release/yangtze/master/58',
    git_id: '0',
    hostname,
    date: '2025-06-26',
    dbv: '2025.0626',
    is_preview_release: 'false',
    xapi: '26.4',
    xapi_build: '26.4.0',
    xen: '4.17.5-15',
    linux: '4.19.0+1',
    xencenter_min: '2.21',
    xencenter_max: '2.21',
    network_backend: 'openvswitch',
    db_schema: '5.786',
  }
}

/** `cpu_info` of a host (and of the pool) with `cpus` logical CPUs. */
export function cpuInfo(cpus: number): Record<string, string> {
  return {
    cpu_count: String(cpus),
    socket_count: String(Math.max(1, Math.ceil(cpus / 16))),
    threads_per_core: '2',
    vendor: CPU.vendor,
    speed: CPU.speed.toFixed(3),
    modelname: CPU.modelname,
    family: String(CPU.family),
    model: String(CPU.model),
    stepping: CPU.stepping,
    flags: CPU.flags,
    features: CPU.features,
    features_pv: CPU.features,
    features_hvm: CPU.features,
    features_pv_host: CPU.features,
    features_hvm_host: CPU.features,
  }
}

/**
 * A host as XAPI's startup (dbsync) leaves it: metrics, physical CPUs, and its control domain
 * (dom0), running with domid 0.
 */
export function createHost(core: SimulatorCore, host: FixtureHost, address: string): string {
  const { db } = core
  const now = xapiNow()
  const metrics = db.create('host_metrics', {
    memory_total: host.memory,
    memory_free: host.memory - DOM0_MEMORY,
    live: true,
    last_updated: now,
  })
  const shortName = host.name.replace(/[^A-Za-z0-9-]/g, '-')
  const ref = db.create('host', {
    name_label: host.name,
    name_description: 'Default install',
    memory_overhead: 0,
    allowed_operations: ['vm_migrate', 'provision', 'vm_resume', 'evacuate', 'vm_start'],
    API_version_major: 2,
    API_version_minor: 21,
    API_version_vendor: 'XenSource',
    enabled: true,
    software_version: softwareVersion(host.softwareVersion, shortName),
    other_config: {
      agent_start_time: String(Math.floor(Date.now() / 1000)),
      boot_time: String(Math.floor(Date.now() / 1000) - 3600),
      iscsi_iqn: `iqn.2024-10.org.xcp-ng:${shortName}`,
      multipathing: 'false',
      'mpath-boot': 'no-mpath',
    },
    capabilities: ['xen-3.0-x86_64', 'hvm-3.0-x86_32', 'hvm-3.0-x86_32p', 'hvm-3.0-x86_64', ''],
    sched_policy: 'credit',
    supported_bootloaders: ['pygrub', 'eliloader'],
    logging: {},
    suspend_image_sr: NULL_REF,
    crash_dump_sr: NULL_REF,
    cpu_info: cpuInfo(host.cpus),
    hostname: shortName,
    address,
    metrics,
    license_params: {
      restrict_vswitch_controller: 'false',
      restrict_lab: 'false',
      restrict_stage: 'false',
      restrict_storagelink: 'false',
      restrict_storagelink_site_recovery: 'false',
      restrict_web_selfservice: 'false',
      restrict_web_selfservice_manager: 'false',
      restrict_hotfix_apply: 'false',
      restrict_export_resource_data: 'false',
      restrict_read_caching: 'false',
      restrict_cifs: 'false',
      restrict_health_check: 'false',
      restrict_xcm: 'false',
      restrict_vm_memory_introspection: 'false',
      restrict_batch_hotfix_apply: 'false',
      restrict_management_on_vlan: 'false',
      restrict_ws_proxy: 'false',
      restrict_vlan: 'false',
      restrict_qos: 'false',
      restrict_pool_attached_storage: 'false',
      restrict_netapp: 'false',
      restrict_equalogic: 'false',
      restrict_pooling: 'false',
      enable_xha: 'true',
      restrict_marathon: 'false',
      restrict_email_alerting: 'false',
      restrict_historical_performance: 'false',
      restrict_wlb: 'false',
      restrict_rbac: 'false',
      restrict_dmc: 'false',
      restrict_checkpoint: 'false',
      restrict_cpu_masking: 'false',
      restrict_connection: 'false',
      platform_filter: 'false',
      regular_nag_dialog: 'false',
      restrict_vmpr: 'false',
      restrict_vmss: 'false',
      restrict_intellicache: 'false',
      restrict_gpu: 'false',
      restrict_dr: 'false',
      restrict_vif_locking: 'false',
      restrict_storage_xen_motion: 'false',
      restrict_vgpu: 'false',
      restrict_integrated_gpu_passthrough: 'false',
      restrict_vss: 'false',
      restrict_guest_agent_auto_update: 'false',
      restrict_pci_device_for_auto_update: 'false',
      restrict_xen_motion: 'false',
      restrict_guest_ip_setting: 'false',
      restrict_ad: 'false',
      restrict_nested_virt: 'false',
      restrict_live_patching: 'false',
      restrict_set_vcpus_number_live: 'false',
      restrict_pvs_proxy: 'false',
      restrict_igmp_snooping: 'false',
      restrict_rpu: 'false',
      restrict_pool_size: 'false',
      restrict_cbt: 'false',
      restrict_usb_passthrough: 'false',
      restrict_network_sriov: 'false',
      restrict_corosync: 'false',
      restrict_zstd_export: 'false',
      restrict_pool_secret_rotation: 'false',
      restrict_certificate_verification: 'false',
      restrict_updates: 'false',
      restrict_internal_repo_access: 'false',
      restrict_vtpm: 'false',
      sku_type: 'free',
      expiry: '30000101T00:00:00Z',
      sku_marketing_name: 'XCP-ng',
      grace: 'no',
    },
    edition: 'xcp-ng',
    bios_strings: {
      'bios-vendor': 'American Megatrends Inc.',
      'bios-version': '3.4',
      'system-manufacturer': 'Supermicro',
      'system-product-name': 'SYS-1029P-WTR',
      'system-version': '0123456789',
      'system-serial-number': '0123456789',
      'baseboard-manufacturer': 'Supermicro',
      'baseboard-product-name': 'X11DDW-NT',
    },
    power_on_mode: '',
    power_on_config: {},
    chipset_info: { iommu: 'true' },
    ssl_legacy: false,
    guest_VCPUs_params: {},
    virtual_hardware_platform_versions: [0, 1, 2],
    iscsi_iqn: `iqn.2024-10.org.xcp-ng:${shortName}`,
    multipathing: false,
    uefi_certificates: '',
    editions: ['xcp-ng'],
    tls_verification_enabled: true,
    https_only: false,
    last_update_hash: '',
    ssh_enabled: true,
    ssh_enabled_timeout: 0,
    console_idle_timeout: 0,
    ssh_auto_mode: false,
    max_cstate: '',
    secure_boot: false,
  })
  for (let number = 0; number < host.cpus; number++) {
    db.create('host_cpu', {
      host: ref,
      number,
      vendor: CPU.vendor,
      speed: CPU.speed,
      modelname: CPU.modelname,
      family: CPU.family,
      model: CPU.model,
      stepping: CPU.stepping,
      flags: CPU.flags,
      features: CPU.features,
      utilisation: 0.02,
    })
  }
  db.update('host', ref, { control_domain: createControlDomain(core, ref, shortName, host.cpus) })
  return ref
}

function createControlDomain(core: SimulatorCore, host: string, hostname: string, cpus: number): string {
  const { db } = core
  const now = xapiNow()
  const vcpus = Math.min(16, cpus)
  const metrics = db.create('VM_metrics', {
    memory_actual: DOM0_MEMORY,
    VCPUs_number: vcpus,
    VCPUs_utilisation: { '0': 0 },
    state: ['running'],
    start_time: now,
    install_time: now,
    last_updated: now,
    current_domain_type: 'pv',
  })
  const dom0 = db.create('VM', {
    name_label: `Control domain on host: ${hostname}`,
    name_description: 'The domain which manages physical devices and manages other domains',
    power_state: 'Running',
    user_version: 1,
    is_a_template: false,
    resident_on: host,
    affinity: host,
    memory_target: DOM0_MEMORY,
    memory_static_max: DOM0_MEMORY,
    memory_dynamic_max: DOM0_MEMORY,
    memory_dynamic_min: DOM0_MEMORY,
    memory_static_min: DOM0_MEMORY,
    VCPUs_params: {},
    VCPUs_max: vcpus,
    VCPUs_at_startup: vcpus,
    actions_after_shutdown: 'destroy',
    actions_after_reboot: 'restart',
    actions_after_crash: 'restart',
    HVM_boot_policy: '',
    HVM_boot_params: {},
    platform: {},
    other_config: { storage_driver_domain: 'OpaqueRef:NULL', is_system_domain: 'true', perfmon: '' },
    domid: 0,
    domarch: 'x64',
    is_control_domain: true,
    metrics,
    domain_type: 'pv',
    generation_id: '',
    hardware_platform_version: 0,
  })
  const otherConfig = db.get('VM', dom0).other_config as Readonly<Record<string, string>>
  db.update('VM', dom0, { other_config: { ...otherConfig, storage_driver_domain: dom0 } })
  db.create('console', { protocol: 'rfb', location: `https://${hostname}/console?ref=${dom0}`, VM: dom0 })
  updateVmAllowedOperations(db, dom0)
  return dom0
}
