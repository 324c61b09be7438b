import { z } from 'zod'
import { type Knobs, KnobsSchema, type StorageManager } from '../storage'

/**
 * Timings of the XAPI side of storage operations, next to the storage manager's own knobs
 * (`simulator/storage/knobs.ts`). A VM snapshot takes time on a real pool (the VM is paused, each
 * disk's tapdisk is paused and a new VHD made), which is what makes concurrency limits observable.
 */
export const IntegrationKnobsSchema = z.object({
  /** How long a `VM.snapshot` or `VM.checkpoint` takes besides its disks. */
  vmSnapshotMs: z.number().nonnegative().default(300),
  /** How much longer it takes per disk snapshotted. */
  vmSnapshotPerDiskMs: z.number().nonnegative().default(50),
})
export type IntegrationKnobs = z.infer<typeof IntegrationKnobsSchema>

/** Every knob of a simulator: storage manager and integration, in one flat object. */
export const SimulatorKnobsSchema = KnobsSchema.extend(IntegrationKnobsSchema.shape)
export type SimulatorKnobs = z.infer<typeof SimulatorKnobsSchema>
export type SimulatorKnobsInput = z.input<typeof SimulatorKnobsSchema>

/** What `setKnobs` accepts: any subset, unknown names refused (a misspelt knob must not pass silently). */
export const SimulatorKnobsPatchSchema = SimulatorKnobsSchema.partial().strict()
export type SimulatorKnobsPatch = z.input<typeof SimulatorKnobsPatchSchema>

const integrationKeys = new Set(Object.keys(IntegrationKnobsSchema.shape))

/** Splits a validated set of knobs between the storage manager and the integration. */
export function splitKnobs(knobs: Partial<SimulatorKnobs>): {
  storage: Partial<Knobs>
  integration: Partial<IntegrationKnobs>
} {
  const storage: Record<string, unknown> = {}
  const integration: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(knobs)) {
    if (value === undefined) continue
    if (integrationKeys.has(key)) integration[key] = value
    else storage[key] = value
  }
  return { storage: storage as Partial<Knobs>, integration: integration as Partial<IntegrationKnobs> }
}

/** Applies a patch to both sides and returns every knob now in force. */
export function applyKnobs(
  patch: SimulatorKnobsPatch,
  storage: StorageManager,
  integration: IntegrationKnobs,
): SimulatorKnobs {
  const parsed = SimulatorKnobsPatchSchema.parse(patch)
  const split = splitKnobs(parsed)
  const storageKnobs = storage.setKnobs(split.storage)
  Object.assign(integration, IntegrationKnobsSchema.parse({ ...integration, ...split.integration }))
  return { ...storageKnobs, ...integration }
}
