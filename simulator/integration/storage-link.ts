import type { SimulatorCore } from '../core'
import { XapiError } from '../rpc/errors'
import { isStorageError, type ObjectClass, type SrEngine, type StorageManager, type VdiFacts } from '../storage'
import type { IntegrationKnobs } from './integration-knobs'
import type { RecordSync } from './record-sync'
import type { VdiIntents } from './vdi-intents'

/**
 * What the storage methods, HTTP handlers and control operations share: the XAPI core, the storage
 * manager, the fields of VDIs being created, the simulator's own knobs. Lookups go from XAPI refs to
 * SM uuids and engines; storage failures become XAPI errors with refs.
 */
export class StorageLink {
  /** `Ref:<n>` ids of XVA exports, numbered per simulator as XAPI's `Export.make_id` does per process. */
  #nextExportId = 0

  constructor(
    readonly core: SimulatorCore,
    readonly storage: StorageManager,
    readonly intents: VdiIntents,
    readonly sync: RecordSync,
    readonly knobs: IntegrationKnobs,
  ) {}

  nextExportId(): string {
    return `Ref:${this.#nextExportId++}`
  }

  /** The ref of an object named by uuid, or the uuid itself when XAPI has no record of it. */
  refOf(cls: ObjectClass, uuid: string): string {
    const object = this.core.db.findByUuid(uuid)
    return object?.cls === cls ? object.ref : uuid
  }

  /** The VDI ref given a ref or a uuid (HTTP handlers accept both); HANDLE_INVALID/UUID_INVALID otherwise. */
  vdiRefOf(refOrUuid: string): string {
    return this.#refOf('VDI', refOrUuid)
  }

  vmRefOf(refOrUuid: string): string {
    return this.#refOf('VM', refOrUuid)
  }

  srRefOf(refOrUuid: string): string {
    return this.#refOf('SR', refOrUuid)
  }

  #refOf(cls: string, refOrUuid: string): string {
    if (this.core.db.exists(cls, refOrUuid)) return refOrUuid
    if (refOrUuid.startsWith('OpaqueRef:')) this.core.db.get(cls, refOrUuid)
    return this.core.db.refOfUuid(cls, refOrUuid)
  }

  vdiUuid(vdi: string): string {
    return String(this.core.db.get('VDI', vdi).uuid)
  }

  /** The engine of an SR record. */
  srEngine(sr: string): SrEngine {
    const uuid = String(this.core.db.get('SR', sr).uuid)
    return this.guard(() => this.storage.sr(uuid))
  }

  /** The engine holding a VDI record's data. */
  engineOfVdi(vdi: string): SrEngine {
    return this.srEngine(String(this.core.db.get('VDI', vdi).SR))
  }

  /** SM's facts of a VDI record. */
  facts(vdi: string): VdiFacts {
    const uuid = this.vdiUuid(vdi)
    return this.guard(() => this.engineOfVdi(vdi).vdi(uuid))
  }

  /** Runs a storage call; its failure comes out as the XAPI error a client would see. */
  async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      throw this.xapiError(error)
    }
  }

  /** {@link call} for synchronous storage calls. */
  guard<T>(operation: () => T): T {
    try {
      return operation()
    } catch (error) {
      throw this.xapiError(error)
    }
  }

  /** A storage error as XAPI words it (uuids replaced by refs); anything else unchanged. */
  xapiError(error: unknown): unknown {
    if (!isStorageError(error)) return error
    return new XapiError(
      error.code,
      error.toXapiParams((cls, uuid) => this.refOf(cls, uuid)),
    )
  }
}
