/**
 * What SM reads from XAPI's records. Real SM asks xapi for these (`VDI.get_is_a_snapshot`,
 * `VDI.get_other_config`, the SR's `other_config`...); here the XAPI layer answers through this view,
 * so the engine never keeps a second copy of fields XAPI owns.
 */

export interface VdiRecordFacts {
  isASnapshot: boolean
  sharable: boolean
  onBoot: 'persist' | 'reset'
  allowCaching: boolean
  /** XAPI VDI type: `user`, `system`, `cbt_metadata`, ... */
  type: string
  /** Keys SM reads: `leaf-coalesce` (`false` | `force`). */
  otherConfig: Readonly<Record<string, string>>
  /** Operations in progress on the record (`copy` forbids a snapshot). */
  currentOperations: readonly string[]
}

export interface SrRecordFacts {
  /** Keys SM reads: `gc`, `coalesce`, `leaf-coalesce`, `coalesce-error-rate`. */
  otherConfig: Readonly<Record<string, string>>
}

/** Missing fields (or a missing record) fall back to what the engine knows and XAPI's defaults. */
export interface RecordView {
  vdi(uuid: string): Partial<VdiRecordFacts> | undefined
  sr(uuid: string): Partial<SrRecordFacts> | undefined
}

/** A record view held in memory: for tests and for running the engine without the XAPI layer. */
export class MemoryRecordView implements RecordView {
  private readonly vdis = new Map<string, Partial<VdiRecordFacts>>()
  private readonly srs = new Map<string, Partial<SrRecordFacts>>()

  vdi(uuid: string): Partial<VdiRecordFacts> | undefined {
    return this.vdis.get(uuid)
  }

  sr(uuid: string): Partial<SrRecordFacts> | undefined {
    return this.srs.get(uuid)
  }

  setVdi(uuid: string, facts: Partial<VdiRecordFacts>): void {
    this.vdis.set(uuid, { ...this.vdis.get(uuid), ...facts })
  }

  setSrOtherConfig(uuid: string, otherConfig: Record<string, string>): void {
    this.srs.set(uuid, { ...this.srs.get(uuid), otherConfig })
  }
}
