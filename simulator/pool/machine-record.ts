import { NULL_REF } from '../model/values'

/** Everything `VM.create` needs for an HVM guest, as Xen Orchestra creates them from a template. */
export interface MachineRecordOptions {
  readonly nameLabel: string
  readonly nameDescription: string
  readonly memory: number
  readonly vcpus: number
  readonly isTemplate: boolean
  readonly affinity?: string
  readonly tags?: readonly string[]
  readonly otherConfig?: Readonly<Record<string, string>>
}

export function machineRecord(options: MachineRecordOptions): Record<string, unknown> {
  return {
    name_label: options.nameLabel,
    name_description: options.nameDescription,
    user_version: 1,
    is_a_template: options.isTemplate,
    affinity: options.affinity ?? NULL_REF,
    memory_target: options.memory,
    memory_static_max: options.memory,
    memory_dynamic_max: options.memory,
    memory_dynamic_min: options.memory,
    memory_static_min: Math.min(options.memory, 512 * 2 ** 20),
    VCPUs_params: {},
    VCPUs_max: options.vcpus,
    VCPUs_at_startup: options.vcpus,
    actions_after_softreboot: 'soft_reboot',
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
    HVM_boot_params: { order: 'cdn' },
    HVM_shadow_multiplier: 1,
    platform: {
      timeoffset: '0',
      'device-model': 'qemu-upstream-compat',
      videoram: '8',
      hpet: 'true',
      secureboot: 'false',
      vga: 'std',
      apic: 'true',
      pae: 'true',
      viridian: 'false',
      nx: 'true',
      acpi: '1',
    },
    PCI_bus: '',
    other_config: { ...options.otherConfig },
    last_boot_CPU_flags: {},
    last_booted_record: '',
    recommendations:
      '<restrictions><restriction field="memory-static-max" max="1649267441664" /><restriction field="vcpus-max" max="32" /><restriction property="number-of-vbds" max="255" /><restriction property="number-of-vifs" max="7" /><restriction field="has-vendor-device" value="false" /></restrictions>',
    xenstore_data: {},
    ha_always_run: false,
    ha_restart_priority: '',
    tags: [...(options.tags ?? [])],
    blocked_operations: {},
    suspend_SR: NULL_REF,
    version: 0,
    generation_id: '',
    hardware_platform_version: 2,
    has_vendor_device: false,
    reference_label: '',
    domain_type: 'hvm',
    NVRAM: {},
    appliance: NULL_REF,
    start_delay: 0,
    shutdown_delay: 0,
    order: 0,
    suspend_VDI: NULL_REF,
    power_state: 'Halted',
  }
}
