/**
 * The simulated storage manager (SM) of the XAPI pool simulator: SRs, VHD trees, sparse persistent
 * contents, sizes, snapshots, CBT, exports support and the GC/coalesce engine. See
 * docs/simulator-storage.md.
 */
export { isStorageError, type ObjectClass, type ObjectMention, StorageError } from './errors'
export type { GcTaskEvent, MessageEvent, SrFacts, StorageEventMap, StorageEventName, VdiFacts } from './events'
export type { CoalesceErrno } from './gc'
export * as health from './health'
export { type Knobs, type KnobsInput, KnobsSchema, resolveKnobs } from './knobs'
export { type CreateSrOptions, StorageManager, type StorageManagerOptions, type VmSnapshotItem } from './manager'
export { MemoryRecordView, type RecordView, type SrRecordFacts, type VdiRecordFacts } from './records'
export { type Allocation, type SrType, SrTypeSchema } from './schema'
export * as sizes from './sizes'
export type {
  AttachOptions,
  BlockWrite,
  ContentRun,
  CreateVdiOptions,
  GcControl,
  SnapshotResult,
  SrEngine,
  SyntheticFill,
} from './sr-engine'
export { syntheticBlock, syntheticLayout } from './synthetic'
