import { z } from 'zod'
import { MAX_CHAIN_DEPTH, MiB } from './sizes'

/**
 * Timing and policy knobs of the simulated storage manager (storage-semantics.md §8.9). Defaults are
 * a real host's; tests shrink the timings (a quiet period of 0, a very fast coalesce).
 */
export const KnobsSchema = z.object({
  /** GC sleeps this long after being kicked before it works (`GCPAUSE_DEFAULT_SLEEP`). */
  gcQuietPeriodMs: z.number().nonnegative().default(300_000),
  /** The first GC after a simulated host boot skips the quiet period (`gc_init` marker absent). */
  bootSkipsQuietPeriod: z.boolean().default(true),
  /** Simulated storage throughput: a coalesce lasts `child allocated bytes / this`. */
  coalesceBytesPerSecond: z
    .number()
    .positive()
    .default(100 * MiB),
  /** Live leaf-coalesce when `allocated / speed` is below this (`0.5 × LIVE_LEAF_COALESCE_TIMEOUT`). */
  liveLeafCoalesceSeconds: z.number().nonnegative().default(5),
  /** Without a measured speed, live leaf-coalesce below this many bytes (`LIVE_LEAF_COALESCE_MAX_SIZE`). */
  liveLeafCoalesceMaxBytes: z
    .number()
    .nonnegative()
    .default(20 * MiB),
  /** Snapshot-coalesce gives up after this many iterations without progress (10 on XCP-ng 8.3, 20 upstream). */
  leafCoalesceMaxIterations: z.number().int().positive().default(10),
  /** ... or after this many iterations without progress (`MAX_ITERATIONS_NO_PROGRESS`). */
  leafCoalesceMaxNoProgress: z.number().int().positive().default(3),
  /** Snapshot and clone refuse a leaf this deep (`MAX_CHAIN_SIZE`). */
  maxChainDepth: z.number().int().positive().default(MAX_CHAIN_DEPTH),
  /** The source VDI shows `sm_config.paused=true` this long during a snapshot. */
  snapshotPauseMs: z.number().nonnegative().default(0),
  /** `VDI.data_destroy` waits this long for the VDI to be detached before `VDI_IN_USE`. */
  dataDestroyDetachWaitMs: z.number().nonnegative().default(4_000),
  /** Coalesce error messages per minute when the SR's `other_config` has no `coalesce-error-rate`. */
  coalesceErrorRatePerMinute: z
    .number()
    .nonnegative()
    .default(1 / 60),
  /** LVHD: the MGT LV every SR carries. */
  lvhdManagementBytes: z
    .number()
    .int()
    .nonnegative()
    .default(4 * MiB),
  /** File SRs: bytes the filesystem itself uses. */
  fileSrOverheadBytes: z.number().int().nonnegative().default(0),
})

export type Knobs = z.infer<typeof KnobsSchema>
export type KnobsInput = z.input<typeof KnobsSchema>

export function resolveKnobs(input: KnobsInput = {}): Knobs {
  return KnobsSchema.parse(input)
}
