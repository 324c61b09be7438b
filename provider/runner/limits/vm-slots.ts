import { AsyncLocalStorage } from 'node:async_hooks'
import { RunError } from '../log/errors'
import type { PoolLimitSettings, PoolLimits } from './pool-limits'

/**
 * The slots VM backups take, in the order that makes "backup at 3 AM" mean data from 3 AM: a
 * snapshot slot only around the snapshot call, then export slots only around each export. A VM never
 * holds its snapshot slot while it waits for an export slot, so snapshots are taken as early as the
 * snapshot limit allows however long the exports queue (reference "Backup Concurrency").
 *
 *   const slots = new VmSlots(poolLimiters.forPool(pool.uuid), job.settings, signal)   // one per run, shared by its VMs
 *   await vmLimiter.run(async () => {                         // job concurrency: the whole VM backup
 *     const snapshot = await slots.snapshot(() => takeSnapshot(vm))
 *     await Promise.all(disks.map((disk) => slots.exportDisk(() => exportDisk(snapshot, disk))))   // delta
 *     // or: await slots.exportVm(() => exportXva(snapshot))                                       // full
 *   })
 */
export class VmSlots {
  /** Set inside a snapshot call, in its async context only: other VMs sharing this object are not affected. */
  readonly #inSnapshot = new AsyncLocalStorage<true>()

  constructor(
    private readonly pool: PoolLimits,
    private readonly settings: PoolLimitSettings,
    private readonly signal?: AbortSignal,
  ) {}

  /** Runs the snapshot call holding one of the pool's snapshot slots. */
  async snapshot<T>(takeSnapshot: () => Promise<T>): Promise<T> {
    return this.pool.snapshot.run(() => this.#inSnapshot.run(true, takeSnapshot), {
      signal: this.signal,
      limit: this.settings.snapshotConcurrency,
    })
  }

  /** Runs one disk export (delta mode) holding one of the pool's VDI export slots. */
  exportDisk<T>(exportDisk: () => Promise<T>): Promise<T> {
    this.#refuseWhileSnapshotting()
    return this.pool.vdiExport.run(exportDisk, { signal: this.signal, limit: this.settings.vdiExportConcurrency })
  }

  /** Runs a whole-VM export (full mode) holding one of the pool's XVA export slots. */
  exportVm<T>(exportVm: () => Promise<T>): Promise<T> {
    this.#refuseWhileSnapshotting()
    return this.pool.xvaExport.run(exportVm, { signal: this.signal, limit: this.settings.xvaExportConcurrency })
  }

  /** Waiting for an export inside the snapshot call would hold the snapshot slot and delay other VMs' snapshots. */
  #refuseWhileSnapshotting(): void {
    if (this.#inSnapshot.getStore() === true) {
      throw new RunError(
        'SLOT_ORDER',
        'an export slot was requested while this VM holds a snapshot slot: end the snapshot call first, then export',
      )
    }
  }
}
