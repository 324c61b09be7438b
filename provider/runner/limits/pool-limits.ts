import type { Settings } from '../../policy/job-settings'
import { Limiter } from './limiter'

/**
 * The limits that protect a pool (reference "Backup Concurrency"; XAPI has no queue of its own): at most
 * 2 snapshots, 12 disk (VDI) exports and 2 whole-VM (XVA) exports at the same time per pool, counted
 * across every job the runner runs. One registry per runner; limiters are made on first use.
 */
export const DEFAULT_POOL_LIMITS = { snapshot: 2, vdiExport: 12, xvaExport: 2 } as const

export interface PoolLimits {
  readonly snapshot: Limiter
  readonly vdiExport: Limiter
  readonly xvaExport: Limiter
}

export class PoolLimiters {
  readonly #pools = new Map<string, PoolLimits>()

  constructor(private readonly defaults: typeof DEFAULT_POOL_LIMITS = DEFAULT_POOL_LIMITS) {}

  /** The limits of a pool, by its uuid. */
  forPool(poolUuid: string): PoolLimits {
    let limits = this.#pools.get(poolUuid)
    if (limits === undefined) {
      limits = {
        snapshot: new Limiter(`snapshots on pool ${poolUuid}`, this.defaults.snapshot),
        vdiExport: new Limiter(`VDI exports on pool ${poolUuid}`, this.defaults.vdiExport),
        xvaExport: new Limiter(`XVA exports on pool ${poolUuid}`, this.defaults.xvaExport),
      }
      this.#pools.set(poolUuid, limits)
    }
    return limits
  }
}

/** The job settings that set these limits (each job's own value applies to its own acquisitions). */
export type PoolLimitSettings = Pick<Settings, 'snapshotConcurrency' | 'vdiExportConcurrency' | 'xvaExportConcurrency'>

/** The VMs of one run backed up at once: the job's `concurrency`, 0 meaning all at once. */
export function jobVmLimiter(jobName: string, concurrency: Settings['concurrency']): Limiter {
  return new Limiter(`VMs of job ${JSON.stringify(jobName)}`, concurrency)
}
