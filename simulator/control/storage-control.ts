import { z } from 'zod'
import type { OperationStats } from '../faults/operation-probe'
import {
  changeBlocks,
  type DiskTarget,
  DiskTargetSchema,
  diskDigest,
  readDisk,
  writeDisk,
  writePattern,
} from '../integration/guest-disks'
import { applyKnobs, type SimulatorKnobs, type SimulatorKnobsPatch } from '../integration/integration-knobs'
import type { StorageLink } from '../integration/storage-link'
import { SNAPSHOT_PROBE } from '../methods/storage'
import { XapiError } from '../rpc/errors'
import type { SrEngine } from '../storage'

/** What the GC control does: see `GcControl` in the storage manager. */
export const GcRequestSchema = z
  .object({
    action: z.enum(['status', 'kick', 'freeze', 'unfreeze', 'expedite', 'whenIdle', 'injectCoalesceFailure']),
    /** For `injectCoalesceFailure`. */
    errno: z.enum(['ENOSPC', 'EIO']).optional(),
    count: z.number().int().positive().optional(),
  })
  .strict()
export type GcRequest = z.input<typeof GcRequestSchema>

export interface GcStatus {
  readonly sr: string
  readonly active: boolean
  readonly frozen: boolean
  /** The last unexpected failure of a GC run, if any. */
  readonly lastError: string | null
}

export const PatternSchema = z
  .object({
    seed: z.number().int().nonnegative(),
    offset: z.number().int().nonnegative(),
    length: z.number().int().nonnegative(),
  })
  .strict()
export const ChangeSchema = z
  .object({ seed: z.number().int().nonnegative(), fraction: z.number().min(0).max(1) })
  .strict()

/**
 * Guest writes, disk reads, GC controls, knobs and the snapshot concurrency counter: the storage part
 * of the control API (docs/simulator.md, "Storage control").
 */
export interface StorageControlApi {
  /** Writes bytes at `offset` of a disk, as its guest would. */
  writeDisk(target: DiskTarget, offset: number, data: Uint8Array): Promise<void>
  /** Writes the deterministic pattern of `seed` (`patternBytes`) over a range of a disk. */
  writePattern(target: DiskTarget, pattern: { seed: number; offset: number; length: number }): Promise<void>
  /** Rewrites a fraction of a disk's blocks, chosen from `seed`, with its pattern; returns the block indices. */
  changeBlocks(target: DiskTarget, change: { seed: number; fraction: number }): Promise<number[]>
  readDisk(target: DiskTarget, offset: number, length: number): Promise<Buffer>
  /** SHA-256 of the whole disk image. */
  diskDigest(target: DiskTarget): Promise<{ sha256: string; virtualSize: number }>
  /** Drives the GC of an SR (ref, uuid or name). */
  gc(sr: string, request: GcRequest): Promise<GcStatus>
  knobs(): Promise<SimulatorKnobs>
  setKnobs(patch: SimulatorKnobsPatch): Promise<SimulatorKnobs>
  /** `VM.snapshot` and `VM.checkpoint` of the pool together: calls, in flight, highest at once. */
  snapshotStats(): Promise<OperationStats>
}

export class StorageControl implements StorageControlApi {
  constructor(private readonly link: StorageLink) {}

  async writeDisk(target: DiskTarget, offset: number, data: Uint8Array): Promise<void> {
    await writeDisk(this.link, DiskTargetSchema.parse(target), offset, data)
  }

  async writePattern(target: DiskTarget, pattern: { seed: number; offset: number; length: number }): Promise<void> {
    await writePattern(this.link, DiskTargetSchema.parse(target), PatternSchema.parse(pattern))
  }

  changeBlocks(target: DiskTarget, change: { seed: number; fraction: number }): Promise<number[]> {
    return changeBlocks(this.link, DiskTargetSchema.parse(target), ChangeSchema.parse(change))
  }

  readDisk(target: DiskTarget, offset: number, length: number): Promise<Buffer> {
    return readDisk(this.link, DiskTargetSchema.parse(target), offset, length)
  }

  diskDigest(target: DiskTarget): Promise<{ sha256: string; virtualSize: number }> {
    return diskDigest(this.link, DiskTargetSchema.parse(target))
  }

  async gc(sr: string, request: GcRequest): Promise<GcStatus> {
    const { action, errno, count } = GcRequestSchema.parse(request)
    const engine = this.#sr(sr)
    const { gc } = engine
    switch (action) {
      case 'kick':
        gc.kick()
        break
      case 'freeze':
        await gc.freeze()
        break
      case 'unfreeze':
        await gc.unfreeze()
        break
      case 'expedite':
        await gc.expedite()
        break
      case 'whenIdle':
        await gc.whenIdle()
        break
      case 'injectCoalesceFailure':
        if (errno === undefined) throw new XapiError('INVALID_VALUE', ['errno', 'give ENOSPC or EIO'])
        gc.injectCoalesceFailure(errno, count)
        break
      case 'status':
        break
    }
    const lastError = gc.lastError
    return {
      sr: engine.uuid,
      active: gc.active,
      frozen: gc.frozen,
      lastError: lastError === null || lastError === undefined ? null : String(lastError),
    }
  }

  #sr(sr: string): SrEngine {
    const { db } = this.link.core
    const named = db.filter('SR', (record) => record.name_label === sr)
    const ref = db.exists('SR', sr) ? sr : db.findByUuid(sr)?.cls === 'SR' ? db.findByUuid(sr)!.ref : named[0]
    if (ref === undefined || (named.length > 1 && !db.exists('SR', sr))) {
      throw new XapiError('INVALID_VALUE', ['sr', `no single SR is named or identified by ${JSON.stringify(sr)}`])
    }
    return this.link.srEngine(ref)
  }

  async knobs(): Promise<SimulatorKnobs> {
    return { ...this.link.storage.knobs, ...this.link.knobs }
  }

  async setKnobs(patch: SimulatorKnobsPatch): Promise<SimulatorKnobs> {
    return applyKnobs(patch, this.link.storage, this.link.knobs)
  }

  async snapshotStats(): Promise<OperationStats> {
    return this.link.core.probe.stats(SNAPSHOT_PROBE)
  }
}
