import type { SimulatorCore } from '../core'
import type { XapiRecord } from '../db/database'
import { updateVdiAllowedOperations } from '../methods/vdi-operations'
import { NULL_REF, xapiNow } from '../model/values'
import type { SrFacts, VdiFacts } from '../storage'
import type { VdiIntents } from './vdi-intents'

/**
 * SM's facts copied onto XAPI's records, as xapi does with what SM returns (`update_vdi_db`,
 * `Xapi_sr.update`, the scan): VDI records created, updated and destroyed as SM introduces, changes
 * and forgets VDIs, SR sizes and SM's `sm_config` keys kept true.
 */

/** `sm_config` keys SM owns on VDIs; the others belong to whoever created the VDI. */
const SM_VDI_KEYS = ['vhd-parent', 'vdi_type', 'type', 'paused', 'gc_no_space'] as const
/** `sm_config` keys SM owns on SRs. */
const SM_SR_KEYS = ['allocation', 'gc_no_space', 'last-coalesce-error'] as const

function mergeSmConfig(
  own: Readonly<Record<string, string>>,
  smKeys: readonly string[],
  facts: Readonly<Record<string, string>>,
): Record<string, string> {
  const kept = Object.entries(own).filter(([key]) => !smKeys.includes(key))
  return { ...Object.fromEntries(kept), ...facts }
}

/** Fields copied from the source onto a snapshot or clone (`snapshot_and_clone`). */
const COPIED_FIELDS = [
  'name_label',
  'name_description',
  'type',
  'sharable',
  'other_config',
  'xenstore_data',
  'on_boot',
  'allow_caching',
  'tags',
] as const

export class RecordSync {
  constructor(
    private readonly core: SimulatorCore,
    private readonly intents: VdiIntents,
  ) {}

  /** A VDI SM introduced: its record, from its creator's fields, its source's (snapshot, clone) or SM's (base copy). */
  vdiIntroduced(sr: string, facts: VdiFacts): void {
    const { db } = this.core
    if (db.findByUuid(facts.uuid) !== undefined) {
      this.vdiUpdated(facts)
      return
    }
    const srRef = this.#ref('SR', sr)
    if (srRef === undefined) {
      this.core.log(`storage introduced VDI ${facts.uuid} on SR ${sr}, which XAPI has no record of`)
      return
    }
    const origin = this.#origin(facts)
    const ref = db.create('VDI', { ...origin, ...this.#facts(facts, origin), SR: srRef })
    updateVdiAllowedOperations(db, ref)
  }

  vdiUpdated(facts: VdiFacts): void {
    const { db } = this.core
    const ref = this.#ref('VDI', facts.uuid)
    if (ref === undefined) return
    const record = db.get('VDI', ref)
    const patch: Record<string, unknown> = this.#facts(facts, record)
    if (facts.dataDestroyed) patch.type = 'cbt_metadata'
    const changed = Object.entries(patch).some(([key, value]) => JSON.stringify(record[key]) !== JSON.stringify(value))
    if (changed) db.update('VDI', ref, patch)
    updateVdiAllowedOperations(db, ref)
  }

  vdiForgotten(uuid: string): void {
    const ref = this.#ref('VDI', uuid)
    if (ref !== undefined) this.core.db.destroy('VDI', ref)
  }

  srUpdated(facts: SrFacts): void {
    const { db } = this.core
    const ref = this.#ref('SR', facts.uuid)
    if (ref === undefined) return
    const record = db.get('SR', ref)
    const patch = {
      physical_size: facts.physicalSize,
      physical_utilisation: facts.physicalUtilisation,
      virtual_allocation: facts.virtualAllocation,
      sm_config: mergeSmConfig(record.sm_config as Record<string, string>, SM_SR_KEYS, facts.smConfig),
    }
    const changed = Object.entries(patch).some(([key, value]) => JSON.stringify(record[key]) !== JSON.stringify(value))
    if (changed) db.update('SR', ref, patch)
  }

  /** The fields SM's facts decide. */
  #facts(facts: VdiFacts, record: XapiRecord): Record<string, unknown> {
    const ownSmConfig = (record.sm_config as Record<string, string> | undefined) ?? this.#intentSmConfig(facts.uuid)
    return {
      virtual_size: facts.virtualSize,
      physical_utilisation: facts.physicalUtilisation,
      managed: facts.managed,
      read_only: facts.readOnly || (record.read_only as boolean | undefined) === true,
      sm_config: mergeSmConfig(ownSmConfig, SM_VDI_KEYS, facts.smConfig),
      cbt_enabled: facts.cbtEnabled,
    }
  }

  #intentSmConfig(uuid: string): Record<string, string> {
    return { ...this.intents.get(uuid)?.sm_config }
  }

  /** The fields XAPI decides for a new VDI, by how SM made it. */
  #origin(facts: VdiFacts): Record<string, unknown> {
    const common = { uuid: facts.uuid, location: facts.uuid, missing: false, storage_lock: false, parent: NULL_REF }
    if (facts.isBaseCopy) {
      // A base copy made by the GC's internal snapshot is marked as a snapshot of the leaf (XAPI quirk).
      const leaf = facts.snapshotOf === null ? undefined : this.#ref('VDI', facts.snapshotOf)
      return {
        ...common,
        name_label: 'base copy',
        name_description: '',
        type: 'user',
        sharable: false,
        read_only: true,
        other_config: {},
        ...(leaf === undefined ? {} : { is_a_snapshot: true, snapshot_of: leaf, snapshot_time: xapiNow() }),
      }
    }
    if (facts.origin === 'snapshot' || facts.origin === 'clone') {
      const sourceRef = facts.snapshotOf === null ? undefined : this.#ref('VDI', facts.snapshotOf)
      const source = sourceRef === undefined ? undefined : this.core.db.get('VDI', sourceRef)
      const copied = source === undefined ? {} : Object.fromEntries(COPIED_FIELDS.map((f) => [f, source[f]]))
      return {
        ...common,
        ...copied,
        read_only: false,
        ...(facts.origin === 'snapshot' && sourceRef !== undefined
          ? { is_a_snapshot: true, snapshot_of: sourceRef, snapshot_time: xapiNow() }
          : {}),
      }
    }
    const intent = this.intents.get(facts.uuid)
    if (intent === undefined) {
      // Found by a scan with no record (a crash between SM and the database): XAPI introduces it nameless.
      return { ...common, name_label: '', name_description: '', type: 'user', sharable: false, read_only: false }
    }
    return {
      ...common,
      name_label: intent.name_label,
      name_description: intent.name_description,
      type: intent.type,
      sharable: intent.sharable,
      read_only: intent.read_only,
      other_config: intent.other_config,
      xenstore_data: intent.xenstore_data,
      tags: intent.tags,
      ...(intent.on_boot === undefined ? {} : { on_boot: intent.on_boot }),
      ...(intent.allow_caching === undefined ? {} : { allow_caching: intent.allow_caching }),
      ...(intent.location === undefined ? {} : { location: intent.location }),
    }
  }

  #ref(cls: string, uuid: string): string | undefined {
    const object = this.core.db.findByUuid(uuid)
    return object?.cls === cls ? object.ref : undefined
  }
}
