import type { SimulatorCore } from '../core'

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
 * How the SRs and disks a fixture declares get their storage: the storage integration creates each
 * SR in the storage manager (`createInitialSr`, after the pool builder made its record and PBDs) and
 * each disk as a VDI with synthetic contents filled to `usedFraction` (`createInitialDisk`, which
 * returns the VDI ref).
 */
export interface DiskProvisioner {
  createInitialSr(core: SimulatorCore, sr: string): Promise<void>
  createInitialDisk(core: SimulatorCore, disk: InitialDisk): Promise<string>
}
