import type { SimulatorCore } from '../core'
import { type FixtureSr, type SrType, srIsShared, srProvisioning } from '../fixtures/fixture-schema'

interface SmDriver {
  readonly nameLabel: string
  readonly description: string
  readonly driver: string
  readonly capabilities: readonly string[]
}

const VHD_CAPABILITIES = [
  'SR_PROBE',
  'SR_UPDATE',
  'SR_SUPPORTS_LOCAL_CACHING',
  'VDI_CREATE',
  'VDI_DELETE',
  'VDI_ATTACH',
  'VDI_DETACH',
  'VDI_UPDATE',
  'VDI_CLONE',
  'VDI_SNAPSHOT',
  'VDI_RESIZE',
  'VDI_MIRROR',
  'VDI_GENERATE_CONFIG',
  'ATOMIC_PAUSE',
  'VDI_CONFIG_CBT',
  'VDI_ACTIVATE',
  'VDI_DEACTIVATE',
  'VDI_READ_CACHING',
]

/** The SM plugins of an XCP-ng 8.3 host for the SR types fixtures use. */
const SM_DRIVERS: Readonly<Record<SrType, SmDriver>> = {
  ext: {
    nameLabel: 'Local EXT3 VHD',
    description:
      'SR plugin which represents disks as VHD files stored on a local EXT3 filesystem, created inside an LVM volume',
    driver: 'EXTSR',
    capabilities: [...VHD_CAPABILITIES, 'THIN_PROVISIONING'],
  },
  nfs: {
    nameLabel: 'NFS VHD',
    description: 'SR plugin which stores disks as VHD files on a remote NFS filesystem',
    driver: 'NFSSR',
    capabilities: [...VHD_CAPABILITIES, 'THIN_PROVISIONING', 'SR_CACHING'],
  },
  lvm: {
    nameLabel: 'Local LVM VHD',
    description:
      'SR plugin which represents disks as VHD disks on Logical Volumes within a locally-attached Volume Group',
    driver: 'LVMSR',
    capabilities: [...VHD_CAPABILITIES, 'VDI_RESIZE_ONLINE'],
  },
  lvmoiscsi: {
    nameLabel: 'LVM over iSCSI',
    description: 'SR plugin which represents disks as Logical Volumes within a Volume Group created on an iSCSI LUN',
    driver: 'LVMoISCSISR',
    capabilities: [...VHD_CAPABILITIES, 'VDI_RESIZE_ONLINE', 'SR_METADATA'],
  },
  lvmohba: {
    nameLabel: 'LVM over FC',
    description:
      'SR plugin which represents disks as VHDs on Logical Volumes within a Volume Group created on an HBA LUN',
    driver: 'LVMoHBASR',
    capabilities: [...VHD_CAPABILITIES, 'VDI_RESIZE_ONLINE', 'SR_METADATA'],
  },
  iso: {
    nameLabel: 'ISO',
    description: 'Handles CD images stored as files in iso format',
    driver: 'ISOSR',
    capabilities: ['VDI_CREATE', 'VDI_DELETE', 'VDI_ATTACH', 'VDI_DETACH', 'SR_SCAN', 'SR_ATTACH', 'SR_DETACH'],
  },
}

/** SM records for the SR types in use (XAPI registers one per installed plugin). */
export function createSmDrivers(core: SimulatorCore, types: Iterable<SrType>): void {
  for (const type of new Set(types)) {
    const driver = SM_DRIVERS[type]
    core.db.create('SM', {
      name_label: driver.nameLabel,
      name_description: driver.description,
      type,
      vendor: 'Citrix Systems Inc',
      copyright: '(C) 2008 Citrix Systems Inc',
      version: '1.0',
      required_api_version: '1.0',
      configuration: {},
      capabilities: driver.capabilities,
      features: Object.fromEntries(driver.capabilities.map((capability) => [capability, 1])),
      driver_filename: `/opt/xensource/sm/${driver.driver}`,
      required_cluster_stack: [],
    })
  }
}

const DISK_SR_OPERATIONS = [
  'vdi_enable_cbt',
  'vdi_list_changed_blocks',
  'unplug',
  'plug',
  'pbd_create',
  'vdi_disable_cbt',
  'update',
  'pbd_destroy',
  'vdi_resize',
  'vdi_clone',
  'vdi_data_destroy',
  'scan',
  'vdi_snapshot',
  'vdi_mirror',
  'vdi_create',
  'vdi_destroy',
  'vdi_set_on_boot',
]
const ISO_SR_OPERATIONS = [
  'unplug',
  'plug',
  'pbd_create',
  'update',
  'pbd_destroy',
  'vdi_introduce',
  'scan',
  'vdi_create',
  'vdi_destroy',
]

function deviceConfig(sr: FixtureSr, index: number): Record<string, string> {
  switch (sr.type) {
    case 'ext':
    case 'lvm':
      return { device: `/dev/disk/by-id/scsi-3600508b1001c${String(index).padStart(4, '0')}` }
    case 'nfs':
      return { server: '192.168.1.10', serverpath: `/export/${sr.name.replace(/\W+/g, '-')}`, nfsversion: '4' }
    case 'lvmoiscsi':
      return { target: '192.168.1.20', targetIQN: 'iqn.2024-10.com.example:storage', SCSIid: `36001405${index}` }
    case 'lvmohba':
      return { SCSIid: `3600a0b80002${index}` }
    case 'iso':
      return { location: `/var/opt/iso/${sr.name.replace(/\W+/g, '-')}`, legacy_mode: 'true' }
  }
}

/** An SR with its PBDs: one on every host when shared, else one on its host. Empty until disks are added. */
export function createSr(
  core: SimulatorCore,
  sr: FixtureSr,
  index: number,
  hosts: ReadonlyMap<string, string>,
): string {
  const { db } = core
  const thick = srProvisioning(sr) === 'thick'
  const shared = srIsShared(sr)
  const smConfig: Record<string, string> =
    sr.type === 'iso' || sr.type === 'nfs' ? {} : { devserial: `scsi-3600508b1001c${String(index).padStart(4, '0')}` }
  if (thick) Object.assign(smConfig, { allocation: 'thick', use_vhd: 'true' })
  const ref = db.create('SR', {
    name_label: sr.name,
    name_description: sr.description,
    allowed_operations: sr.type === 'iso' ? ISO_SR_OPERATIONS : DISK_SR_OPERATIONS,
    physical_size: sr.size,
    physical_utilisation: 0,
    virtual_allocation: 0,
    type: sr.type,
    content_type: sr.type === 'iso' ? 'iso' : 'user',
    shared,
    other_config: sr.type === 'iso' ? { 'auto-scan': 'true' } : {},
    sm_config: smConfig,
  })
  const attachedTo = shared ? [...hosts.values()] : [hosts.get(sr.host ?? '')!]
  for (const host of attachedTo) {
    db.create('PBD', { host, SR: ref, device_config: deviceConfig(sr, index), currently_attached: true })
  }
  return ref
}
