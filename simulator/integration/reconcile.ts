import type { SrEngine } from '../storage'
import type { StorageLink } from './storage-link'

/**
 * Brings XAPI's records and SM's state together, as `SR.scan` does on a real pool: VDIs SM has but XAPI
 * lacks are introduced, records of VDIs SM no longer has are dropped, facts are refreshed. The
 * database and the storage are saved separately, so a crash between the two is repaired this way at
 * the next start.
 */
export function reconcileSr(link: StorageLink, engine: SrEngine): void {
  const { db } = link.core
  const srRef = link.refOf('SR', engine.uuid)
  if (!db.exists('SR', srRef)) return
  const facts = engine.vdis()
  const known = new Set(facts.map((vdi) => vdi.uuid))
  for (const vdi of facts) link.sync.vdiIntroduced(engine.uuid, vdi)
  for (const vdi of [...(db.get('SR', srRef).VDIs as readonly string[])]) {
    if (!known.has(String(db.get('VDI', vdi).uuid))) db.destroy('VDI', vdi)
  }
  link.sync.srUpdated(engine.facts())
}

/**
 * After a restart: every SR record has its storage (a state made before storage existed gets empty
 * SRs), records match SM, and attachments match the VBDs of running VMs (an export in flight when the
 * simulator stopped no longer holds its disk).
 */
export async function reconcileAfterStart(link: StorageLink): Promise<void> {
  const { db } = link.core
  for (const [, sr] of [...db.entries('SR')]) {
    const uuid = String(sr.uuid)
    if (link.storage.srs().some((engine) => engine.uuid === uuid)) continue
    link.core.log(`SR ${uuid} had no storage state: created empty`)
    await link.storage.createSr({
      uuid,
      type: sr.type as Parameters<typeof link.storage.createSr>[0]['type'],
      physicalSize: Number(sr.physical_size),
      allocation: (sr.sm_config as Record<string, string>).allocation === 'thick' ? 'thick' : 'thin',
    })
  }
  for (const engine of link.storage.srs()) reconcileSr(link, engine)

  const live = new Set(
    db.filter('VBD', (vbd) => {
      const vm = db.find('VM', String(vbd.VM))
      return vbd.currently_attached === true && (vm?.power_state === 'Running' || vm?.power_state === 'Paused')
    }),
  )
  for (const engine of link.storage.srs()) {
    for (const vdi of engine.vdis()) {
      for (const holder of engine.holders(vdi.uuid)) {
        if (!live.has(holder)) await engine.detach(vdi.uuid, holder)
      }
    }
  }
  for (const vbd of live) await link.core.devices.attachVbd(link.core, vbd)
}
