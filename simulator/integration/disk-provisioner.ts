import type { SimulatorCore } from '../core'
import { NULL_REF, newUuid } from '../model/values'

/** A disk image the pool starts with: a VM or template disk, or an ISO image of an ISO SR. */
export interface InitialDisk {
  readonly sr: string
  readonly nameLabel: string
  readonly nameDescription: string
  readonly virtualSize: number
  /** Fraction of the disk that holds data (0 to 1). */
  readonly usedFraction: number
  readonly kind: 'disk' | 'iso'
}

/**
 * Where the storage engine plugs in for the disks a fixture declares. The storage integration
 * replaces {@link metadataOnlyDiskProvisioner} with one that creates the VDI through the engine
 * (VHD chain, contents filled to `usedFraction`) and returns its ref.
 */
export interface DiskProvisioner {
  createInitialDisk(core: SimulatorCore, disk: InitialDisk): Promise<string>
}

const BLOCK = 2 * 2 ** 20

/**
 * Until the storage engine is wired in: a VDI record with XAPI's fields and plausible sizes
 * (thin SRs count the used blocks, thick SRs the whole disk) and no contents; the SR's
 * utilisation is updated to match.
 */
export const metadataOnlyDiskProvisioner: DiskProvisioner = {
  async createInitialDisk(core, disk) {
    const { db } = core
    const sr = db.get('SR', disk.sr)
    const thick = (sr.sm_config as Readonly<Record<string, string>>).allocation === 'thick'
    const used = Math.ceil((disk.virtualSize * disk.usedFraction) / BLOCK) * BLOCK
    const physical = thick ? disk.virtualSize : Math.min(used, disk.virtualSize)
    const uuid = newUuid()
    const vdi = db.create('VDI', {
      uuid,
      name_label: disk.nameLabel,
      name_description: disk.nameDescription,
      SR: disk.sr,
      virtual_size: disk.virtualSize,
      physical_utilisation: physical,
      type: 'user',
      sharable: false,
      read_only: disk.kind === 'iso',
      other_config: {},
      storage_lock: false,
      location: disk.kind === 'iso' ? disk.nameLabel : uuid,
      managed: true,
      missing: false,
      parent: NULL_REF,
      sm_config: disk.kind === 'iso' ? {} : { vdi_type: 'vhd' },
      allowed_operations:
        disk.kind === 'iso' ? ['forget', 'destroy'] : ['clone', 'snapshot', 'resize', 'destroy', 'copy', 'enable_cbt'],
    })
    db.update('SR', disk.sr, {
      physical_utilisation: Number(sr.physical_utilisation) + physical,
      virtual_allocation: Number(sr.virtual_allocation) + disk.virtualSize,
    })
    return vdi
  },
}
