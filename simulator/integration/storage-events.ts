import type { SimulatorCore } from '../core'
import { createMessage } from '../methods/message'
import { xapiNow } from '../model/values'
import type { GcTaskEvent, MessageEvent, StorageEventMap, StorageEventName, StorageManager } from '../storage'
import type { RecordSync } from './record-sync'

/**
 * Subscribes the XAPI side to everything the storage manager reports: VDI and SR facts onto records,
 * the GC's "Garbage Collection" task, SM's messages. Returns the unsubscribe function.
 */
export function followStorageEvents(core: SimulatorCore, storage: StorageManager, sync: RecordSync): () => void {
  const unsubscribers: Array<() => void> = []
  const on = <K extends StorageEventName>(event: K, listener: (...args: StorageEventMap[K]) => void) => {
    // Listeners run inside storage operations: a failure here is logged, never thrown into SM.
    const guarded = (...args: StorageEventMap[K]) => {
      try {
        listener(...args)
      } catch (error) {
        core.log(
          `could not apply ${event} to the XAPI records: ${error instanceof Error ? error.stack : String(error)}`,
        )
      }
    }
    storage.on(event, guarded as never)
    unsubscribers.push(() => storage.off(event, guarded as never))
  }
  on('vdi-introduced', ({ sr, vdi }) => sync.vdiIntroduced(sr, vdi))
  on('vdi-updated', ({ vdi }) => sync.vdiUpdated(vdi))
  on('vdi-forgotten', ({ uuid }) => sync.vdiForgotten(uuid))
  on('sr-updated', ({ sr }) => sync.srUpdated(sr))
  on('gc-task', (event) => publishGcTask(core, event))
  on('message', (event) => publishMessage(core, event))
  return () => {
    for (const unsubscribe of unsubscribers) unsubscribe()
  }
}

/**
 * SM's garbage collector runs under a XAPI task it creates ("Garbage Collection"), updates and destroys
 * when it is done. A task lost to a XAPI restart is created again at the GC's next report.
 */
export function publishGcTask(core: SimulatorCore, event: GcTaskEvent): void {
  const { db } = core
  const existing = db.findByUuid(event.task)
  let ref = existing?.cls === 'task' ? existing.ref : undefined
  if (ref === undefined) {
    if (event.phase === 'finished') return
    ref = core.tasks.create({ uuid: event.task, label: event.nameLabel, description: event.nameDescription })
  }
  if (event.phase !== 'finished') {
    db.update('task', ref, { progress: event.progress })
    return
  }
  db.update('task', ref, { status: event.status, progress: 1, finished: xapiNow(), allowed_operations: [] })
  db.destroy('task', ref)
}

/** SM's alerts (`SM_GC_NO_SPACE`, coalesce errors, CBT switched off) as XAPI messages. */
export function publishMessage(core: SimulatorCore, event: MessageEvent): void {
  if (event.action === 'create') {
    createMessage(core, {
      uuid: event.uuid,
      name: event.name,
      priority: event.priority,
      cls: event.cls,
      objUuid: event.objUuid,
      body: event.body,
    })
    return
  }
  const message = core.db.findByUuid(event.uuid)
  if (message?.cls === 'message') core.db.destroy('message', message.ref)
}
