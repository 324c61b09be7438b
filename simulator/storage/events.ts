import type { Allocation, SrType, VdiOrigin } from './schema'

/**
 * What the storage manager tells the XAPI layer, which owns the records: storage facts of VDIs and
 * SRs (introduced, changed, forgotten), the GC's "Garbage Collection" task and the XAPI messages SM
 * creates. Facts are complete snapshots, so a listener can copy them onto records without reading
 * anything else.
 */

export interface VdiFacts {
  uuid: string
  sr: string
  /** Footer uuid of the VHD holding the data; null once `data_destroy` removed it. */
  vhdUuid: string | null
  virtualSize: number
  physicalUtilisation: number
  /** False for base copies (hidden VHDs); `VDI.destroy` refuses them. */
  managed: boolean
  readOnly: boolean
  /** A hidden base copy: XAPI names it `base copy`. */
  isBaseCopy: boolean
  /** `data_destroy` removed the VHD: the record's type becomes `cbt_metadata`. */
  dataDestroyed: boolean
  /** Keys SM owns: `vhd-parent`, `vdi_type` (LVHD), `type=raw` (file raw), `paused`, `gc_no_space`. */
  smConfig: Record<string, string>
  cbtEnabled: boolean
  /** How SM made it; `snapshot` and `clone` records take their other fields from `snapshotOf`. */
  origin: VdiOrigin
  /** Source of a snapshot or clone; the leaf for a base copy made by the GC's internal snapshot. */
  snapshotOf: string | null
}

export interface SrFacts {
  uuid: string
  type: SrType
  /** LVHD provisioning; `thin` for file SRs, which are always thin. */
  allocation: Allocation
  physicalSize: number
  physicalUtilisation: number
  virtualAllocation: number
  freeSpace: number
  /** Keys SM owns: `allocation` (LVHD), `gc_no_space`, `last-coalesce-error`. */
  smConfig: Record<string, string>
}

export interface GcTaskEvent {
  sr: string
  /** Uuid of the task, stable from `created` to `finished`. */
  task: string
  phase: 'created' | 'progress' | 'finished'
  nameLabel: 'Garbage Collection'
  nameDescription: string
  progress: number
  status: 'pending' | 'success' | 'failure'
}

export type MessageEvent =
  | {
      action: 'create'
      /** Uuid for the message record; SM's `sm_config.gc_no_space` values name it. */
      uuid: string
      name: string
      priority: number
      cls: 'SR' | 'VDI'
      objUuid: string
      body: string
    }
  | { action: 'destroy'; uuid: string }

export interface StorageEventMap {
  'vdi-introduced': [{ sr: string; vdi: VdiFacts }]
  'vdi-updated': [{ sr: string; vdi: VdiFacts }]
  'vdi-forgotten': [{ sr: string; uuid: string }]
  'sr-updated': [{ sr: SrFacts }]
  'gc-task': [GcTaskEvent]
  message: [MessageEvent]
}

export type StorageEventName = keyof StorageEventMap
