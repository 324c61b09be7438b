import type { SimulatorCore } from './core'
import { updateVmAllowedOperations } from './methods/vm-operations'
import { newRef } from './model/values'
import { XapiError } from './rpc/errors'

const CLASSES_WITH_OPERATIONS = ['VM', 'VBD', 'VIF', 'VDI', 'SR', 'host', 'pool', 'network', 'task'] as const

/**
 * What XAPI does when it starts (`Cancel_tasks.cancel_tasks_on_host`): unfinished tasks are
 * destroyed and the operations they held in `current_operations` are forgotten; allowed
 * operations are recomputed.
 */
export function cleanUpAfterStart(core: SimulatorCore, reason: XapiError): string[] {
  const dropped = core.tasks.dropUnfinished(reason)
  const { db } = core
  for (const cls of CLASSES_WITH_OPERATIONS) {
    for (const [ref, record] of [...db.entries(cls)]) {
      const operations = record.current_operations as Readonly<Record<string, string>>
      const kept = Object.entries(operations).filter(([key]) => db.exists('task', key))
      if (kept.length !== Object.keys(operations).length) {
        db.update(cls, ref, { current_operations: Object.fromEntries(kept) })
      }
    }
  }
  for (const vm of db.refs('VM')) updateVmAllowedOperations(db, vm)
  return dropped
}

/**
 * A simulated toolstack restart: running operations stop, every session ends (waiting `event.from`
 * calls get SESSION_INVALID), unfinished tasks go, and the pool object gets a new ref so the
 * xen-api client, on logging in again, sees "another XAPI" and re-reads `system.listMethods`.
 */
export function simulateXapiRestart(core: SimulatorCore): { poolRef: string } {
  const reason = new XapiError('INTERNAL_ERROR', ['xapi restarted'])
  core.lifetime.abort(reason)
  core.lifetime = new AbortController()
  core.sessions.invalidateAll()
  cleanUpAfterStart(core, reason)
  const { db } = core
  const oldRef = core.poolRef()
  const record = db.get('pool', oldRef)
  const metadataVdis = db.filter('VDI', (vdi) => vdi.metadata_of_pool === oldRef)
  db.destroy('pool', oldRef)
  const poolRef = db.create('pool', { ...record }, newRef())
  for (const vdi of metadataVdis) db.update('VDI', vdi, { metadata_of_pool: poolRef })
  return { poolRef }
}
