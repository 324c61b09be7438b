import type { Database } from '../db/database'
import type { RecordView, SrRecordFacts, VdiRecordFacts } from '../storage'
import type { VdiIntents } from './vdi-intents'

/**
 * The XAPI fields SM reads (`VDI.is_a_snapshot`, `sharable`, `on_boot`, `other_config`..., the SR's
 * `other_config`), read from the XAPI database at the moment SM asks, so `other_config` switches
 * (`gc=false`, `leaf-coalesce=false`) reach the GC without any copy. A VDI being created has no record
 * yet: its caller's fields stand in.
 */
export class XapiRecordView implements RecordView {
  constructor(
    private readonly db: Database,
    private readonly intents: VdiIntents,
  ) {}

  vdi(uuid: string): Partial<VdiRecordFacts> | undefined {
    const object = this.db.findByUuid(uuid)
    if (object?.cls !== 'VDI') {
      const intent = this.intents.get(uuid)
      if (intent === undefined) return undefined
      return { sharable: intent.sharable, type: intent.type, otherConfig: intent.other_config }
    }
    const record = object.record
    return {
      isASnapshot: record.is_a_snapshot === true,
      sharable: record.sharable === true,
      onBoot: record.on_boot === 'reset' ? 'reset' : 'persist',
      allowCaching: record.allow_caching === true,
      type: String(record.type),
      otherConfig: record.other_config as Readonly<Record<string, string>>,
      currentOperations: Object.values(record.current_operations as Readonly<Record<string, string>>),
    }
  }

  sr(uuid: string): Partial<SrRecordFacts> | undefined {
    const object = this.db.findByUuid(uuid)
    if (object?.cls !== 'SR') return undefined
    return { otherConfig: object.record.other_config as Readonly<Record<string, string>> }
  }
}
