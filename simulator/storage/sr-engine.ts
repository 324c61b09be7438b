import { randomUUID } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import { mkdir, readdir, readFile, rm, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import {
  srFreeSpace,
  srPhysicalUtilisation,
  srVirtualAllocation,
  vdiPhysicalUtilisation,
  vdiVirtualSize,
} from './accounting'
import { isAtomicTemporary, writeFileAtomic } from './atomic-file'
import { type AttachOptions, attach, detach, hostDown } from './attach-ops'
import { BlockFiles } from './block-files'
import { CbtFiles } from './cbt-files'
import { changedBlocks, disableCbt, enableCbt } from './cbt-ops'
import { indicesOf } from './chain-view'
import {
  applyFill,
  applyWrites,
  type BlockWrite,
  type ContentRun,
  contentRunsOf,
  exportRangesFor,
  isZero,
  readBlockOf,
  readRange,
  type SyntheticFill,
  unallocatedInChain,
  writable,
} from './content-ops'
import { errors } from './errors'
import type { SrFacts, StorageEventMap, VdiFacts } from './events'
import { type CoalesceErrno, GcEngine, type GcHost } from './gc'
import type { Knobs } from './knobs'
import { deleteGarbage, mergeIntoParent, mergeLeafIntoParent } from './merge-ops'
import { SrModel, type VdiEntry } from './model'
import { Mutex } from './mutex'
import type { RecordView, VdiRecordFacts } from './records'
import { type Allocation, SrRecordSchema, type SrType } from './schema'
import { BLOCK_SIZE } from './sizes'
import { internalSnapshot, type SnapshotKind, snapshotOrClone } from './snapshot-ops'
import { entryOf, nodeOf, requireVhdSr, type SrContext, type SrTransaction } from './sr-context'
import {
  type CreateVdiOptions,
  checkDataDestroy,
  createVdi,
  dataDestroyVdi,
  destroyVdi,
  planCreate,
  resizeVdi,
} from './vdi-ops'

export type { AttachOptions, BlockWrite, ContentRun, CreateVdiOptions, SyntheticFill }

export interface SnapshotResult {
  /** The new snapshot (or clone). */
  snapshot: VdiFacts
  /** The source VDI, same uuid, now a new empty leaf. */
  source: VdiFacts
  /** The base copy introduced, absent when nothing was written since the last snapshot. */
  baseCopy: VdiFacts | null
}

/** The GC of one SR, as tests and the XAPI layer drive it. */
export interface GcControl {
  kick(): void
  freeze(): Promise<void>
  unfreeze(): Promise<void>
  /** Resolves once no GC loop runs (at once when frozen or idle). */
  whenIdle(): Promise<void>
  /** Test hook: the quiet period and the coalesce in progress end now. */
  expedite(): Promise<void>
  readonly active: boolean
  readonly frozen: boolean
  readonly lastError: unknown
  /** The next coalesces fail with this error, one per count. */
  injectCoalesceFailure(errno: CoalesceErrno, count?: number): void
}

type Emitter = EventEmitter<StorageEventMap>

const SR_FILE = 'sr.json'

/** Writes with at most this many blocks share one metadata commit (imports stream through here). */
const WRITE_BATCH_BLOCKS = 16

/**
 * The storage manager of one SR: its VHD trees, contents, sizes, CBT logs and garbage collector.
 * Every change runs under the SR lock and is committed atomically to `sr.json` before it is
 * published as VDI/SR facts. The operations themselves live in `*-ops.ts`.
 */
export class SrEngine {
  private model: SrModel
  private readonly lock = new Mutex()
  private readonly files: BlockFiles
  private readonly cbtFiles: CbtFiles
  private readonly gcEngine: GcEngine
  private readonly context: SrContext
  private reserved = 0
  private readonly paused = new Set<string>()
  private readonly injected = { cbtResize: 0, cbtSnapshot: 0 }
  private published = new Map<string, string>()
  private publishedSr = ''
  private closed = false

  private constructor(
    model: SrModel,
    private readonly directory: string,
    private readonly knobs: Knobs,
    private readonly records: RecordView,
    private readonly emitter: Emitter,
  ) {
    this.model = model
    this.files = new BlockFiles(join(directory, 'vhd'))
    this.cbtFiles = new CbtFiles(join(directory, 'cbt'))
    this.context = this.makeContext()
    this.gcEngine = new GcEngine(this.gcHost())
  }

  get uuid(): string {
    return this.model.uuid
  }

  get type(): SrType {
    return this.model.type
  }

  static async create(
    directory: string,
    spec: { uuid: string; type: SrType; physicalSize: number; allocation: Allocation },
    knobs: Knobs,
    records: RecordView,
    emitter: Emitter,
  ): Promise<SrEngine> {
    await mkdir(directory, { recursive: true })
    const model = SrModel.empty(spec.uuid, spec.type, spec.physicalSize, spec.allocation)
    const engine = new SrEngine(model, directory, knobs, records, emitter)
    await engine.files.init()
    await engine.cbtFiles.init()
    await engine.persist()
    engine.markPublished()
    return engine
  }

  /** Opens an SR a previous run left, sweeps files a crash left unreferenced, resumes its GC. */
  static async load(directory: string, knobs: Knobs, records: RecordView, emitter: Emitter): Promise<SrEngine> {
    const path = join(directory, SR_FILE)
    let model: SrModel
    try {
      const parsed = SrRecordSchema.safeParse(JSON.parse(await readFile(path, 'utf8')))
      if (!parsed.success) {
        throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
      }
      model = SrModel.fromRecord(parsed.data)
    } catch (error) {
      throw new Error(
        `cannot load the simulated SR state ${path}: ${(error as Error).message}. ` +
          'Restore it from a copy, or remove its directory to drop the SR.',
      )
    }
    const engine = new SrEngine(model, directory, knobs, records, emitter)
    await engine.files.init()
    await engine.cbtFiles.init()
    await engine.sweep()
    engine.markPublished()
    engine.gcEngine.resume()
    return engine
  }

  async close(): Promise<void> {
    if (this.closed) return
    // The collector may still commit its last step (e.g. the quiet period it just planned).
    await this.gcEngine.close()
    this.closed = true
    await this.lock.run(async () => {
      await this.persist()
      await this.files.close()
    })
  }

  /** Removes everything the SR stored (`SR.destroy`); refuses while it still holds VDIs. */
  async destroy(): Promise<void> {
    await this.lock.run(async () => {
      for (const entry of this.model.allVdis()) {
        const node = this.model.nodeOf(entry.uuid)
        if (node === undefined || !node.hidden) throw errors.srNotEmpty()
      }
    })
    await this.close()
    await rm(this.directory, { recursive: true, force: true })
  }

  // --- facts -----------------------------------------------------------------------------------

  facts(): SrFacts {
    const model = this.model
    const smConfig: Record<string, string> = {}
    if (model.family === 'lvhd') smConfig.allocation = model.allocation
    if (model.gc.noSpaceMessage !== null) smConfig.gc_no_space = model.gc.noSpaceMessage
    if (model.gc.lastCoalesceErrorAt !== null) {
      smConfig['last-coalesce-error'] = String(Math.floor(model.gc.lastCoalesceErrorAt / 1000))
    }
    return {
      uuid: model.uuid,
      type: model.type,
      allocation: model.family === 'lvhd' ? model.allocation : 'thin',
      physicalSize: model.physicalSize,
      physicalUtilisation: srPhysicalUtilisation(model, this.knobs, this.reserved),
      virtualAllocation: srVirtualAllocation(model),
      freeSpace: srFreeSpace(model, this.knobs, this.reserved),
      smConfig,
    }
  }

  /** Every VDI SM knows in this SR: managed leaves, base copies, `cbt_metadata` VDIs. */
  vdis(): VdiFacts[] {
    return [...this.model.allVdis()].map((entry) => this.vdiFacts(entry))
  }

  vdi(uuid: string): VdiFacts {
    return this.vdiFacts(entryOf(this.context, uuid))
  }

  has(uuid: string): boolean {
    return this.model.vdi(uuid) !== undefined
  }

  /** `vhd-util query -d`: VHDs from the VDI's to the root inclusive. */
  depth(uuid: string): number {
    return this.model.depth(nodeOf(this.context, uuid, 'depth'))
  }

  /** VDI uuids from this VDI up to the root of its tree. */
  chain(uuid: string): string[] {
    return this.model.chain(nodeOf(this.context, uuid, 'chain')).map((node) => node.vdi)
  }

  /** Who holds the VDI attached (VBDs, exports...), as given to `attach`. */
  holders(uuid: string): string[] {
    return entryOf(this.context, uuid).attachments.map((a) => a.holder)
  }

  /** Number of allocated 2 MiB blocks in the VDI's own VHD (not its ancestors). */
  allocatedBlocks(uuid: string): number {
    return nodeOf(this.context, uuid, 'allocatedBlocks').blocks.count
  }

  private vdiFacts(entry: VdiEntry): VdiFacts {
    const model = this.model
    const node = model.nodeOf(entry.uuid)
    const parent = node === undefined ? undefined : model.parentOf(node)
    const smConfig: Record<string, string> = {}
    if (parent !== undefined) smConfig['vhd-parent'] = parent.vdi
    if (node !== undefined && model.family === 'lvhd') smConfig.vdi_type = node.raw ? 'aio' : 'vhd'
    if (node?.raw === true && model.family === 'file') smConfig.type = 'raw'
    if (this.paused.has(entry.uuid)) smConfig.paused = 'true'
    if (entry.gcNoSpace !== undefined) smConfig.gc_no_space = entry.gcNoSpace
    const hidden = node?.hidden ?? false
    return {
      uuid: entry.uuid,
      sr: model.uuid,
      vhdUuid: node?.vhd ?? null,
      virtualSize: vdiVirtualSize(model, entry),
      physicalUtilisation: vdiPhysicalUtilisation(model, entry),
      managed: !hidden,
      readOnly: hidden || model.family === 'iso',
      isBaseCopy: hidden,
      dataDestroyed: node === undefined,
      smConfig,
      cbtEnabled: entry.cbt !== null,
      origin: entry.origin,
      snapshotOf: entry.snapshotOf ?? null,
    }
  }

  private markPublished(): void {
    this.published = new Map(this.vdis().map((facts) => [facts.uuid, JSON.stringify(facts)]))
    this.publishedSr = JSON.stringify(this.facts())
  }

  /** Emits what changed since the last publication: introduced (ancestors first), updated, forgotten. */
  private publish(): void {
    const introduced: VdiFacts[] = []
    const updated: VdiFacts[] = []
    const next = new Map<string, string>()
    for (const entry of this.model.allVdis()) {
      const facts = this.vdiFacts(entry)
      const json = JSON.stringify(facts)
      next.set(entry.uuid, json)
      const before = this.published.get(entry.uuid)
      if (before === undefined) introduced.push(facts)
      else if (before !== json) updated.push(facts)
    }
    const forgotten = [...this.published.keys()].filter((uuid) => !next.has(uuid))
    const depthOf = (facts: VdiFacts) => {
      const node = this.model.nodeOf(facts.uuid)
      return node === undefined ? Number.MAX_SAFE_INTEGER : this.model.depth(node)
    }
    introduced.sort((a, b) => depthOf(a) - depthOf(b))
    this.published = next
    const sr = this.model.uuid
    for (const vdi of introduced) this.emitter.emit('vdi-introduced', { sr, vdi })
    for (const vdi of updated) this.emitter.emit('vdi-updated', { sr, vdi })
    for (const uuid of forgotten) this.emitter.emit('vdi-forgotten', { sr, uuid })
    const srFacts = this.facts()
    const srJson = JSON.stringify(srFacts)
    if (srJson !== this.publishedSr) {
      this.publishedSr = srJson
      this.emitter.emit('sr-updated', { sr: srFacts })
    }
  }

  // --- transactions ----------------------------------------------------------------------------

  /**
   * Runs `section` under the SR lock. If it reports a change, the model is committed atomically
   * after it; if it throws (or the commit fails), the model returns to what it was before.
   */
  private exclusive<T>(section: (tx: SrTransaction) => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`SR ${this.model.uuid} is closed`))
    return this.lock.run(async () => {
      const before = this.model.toRecord()
      let changed = false
      const afterCommit: Array<() => Promise<void>> = []
      const tx: SrTransaction = {
        changed: () => {
          changed = true
        },
        afterCommit: (action) => {
          afterCommit.push(action)
        },
        publish: () => this.publish(),
      }
      let result: T
      try {
        result = await section(tx)
        if (changed) await this.persist()
      } catch (error) {
        this.model = SrModel.fromRecord(before)
        throw error
      }
      for (const action of afterCommit) await action().catch(() => undefined)
      this.publish()
      return result
    })
  }

  private async persist(): Promise<void> {
    await writeFileAtomic(join(this.directory, SR_FILE), `${JSON.stringify(this.model.toRecord())}\n`)
  }

  /** Deletes data and bitmap files no committed metadata references (left by a crash). */
  private async sweep(): Promise<void> {
    const nodes = new Set([...this.model.allNodes()].map((node) => node.vhd))
    for (const vhd of await this.files.list()) if (!nodes.has(vhd)) await this.files.remove(vhd)
    const logs = new Set<string>()
    for (const entry of this.model.allVdis()) if (entry.cbt !== null) logs.add(entry.cbt.log)
    for (const log of await this.cbtFiles.list()) if (!logs.has(log)) await this.cbtFiles.remove(log)
    for (const name of await readdir(this.directory)) {
      if (isAtomicTemporary(name)) await unlink(join(this.directory, name)).catch(() => undefined)
    }
  }

  private makeContext(): SrContext {
    const engine = this
    return {
      get model() {
        return engine.model
      },
      knobs: this.knobs,
      files: this.files,
      cbtFiles: this.cbtFiles,
      injected: this.injected,
      free: () => srFreeSpace(this.model, this.knobs, this.reserved),
      record: (uuid) => this.record(uuid),
      setPaused: (uuid, paused) => {
        if (paused) this.paused.add(uuid)
        else this.paused.delete(uuid)
      },
      vdiMessage: (name, vdi, body) => {
        const uuid = randomUUID()
        this.emitter.emit('message', { action: 'create', uuid, name, priority: 3, cls: 'VDI', objUuid: vdi, body })
      },
    }
  }

  /** XAPI's record fields, falling back to what SM knows and XAPI's defaults. */
  private record(uuid: string): VdiRecordFacts {
    const entry = this.model.vdi(uuid)
    const view = this.records.vdi(uuid) ?? {}
    const dataDestroyed = entry !== undefined && this.model.nodeOf(uuid) === undefined
    return {
      isASnapshot: view.isASnapshot ?? entry?.origin === 'snapshot',
      sharable: view.sharable ?? false,
      onBoot: view.onBoot ?? 'persist',
      allowCaching: view.allowCaching ?? false,
      type: dataDestroyed ? 'cbt_metadata' : (view.type ?? 'user'),
      otherConfig: view.otherConfig ?? {},
      currentOperations: view.currentOperations ?? [],
    }
  }

  // --- VDI lifecycle ---------------------------------------------------------------------------

  /** `VDI.create`: a new empty VDI (thick LVHD reserves its full LV, or fails with 44). */
  async createVdi(options: CreateVdiOptions): Promise<VdiFacts> {
    const plan = planCreate(this.context, options)
    await this.exclusive((tx) => createVdi(this.context, tx, plan, options))
    return this.vdi(plan.uuid)
  }

  /** `VDI.destroy`: the leaf goes now (space freed), its CBT history folds into the next log, GC kicked. */
  async destroyVdi(uuid: string): Promise<void> {
    await this.exclusive((tx) => destroyVdi(this.context, tx, uuid))
    this.kickGc()
  }

  /** `VDI.resize`: grow only; a thick LVHD leaf inflates to the new size (44 when it cannot). */
  async resizeVdi(uuid: string, newSize: number): Promise<VdiFacts> {
    await this.exclusive((tx) => resizeVdi(this.context, tx, uuid, newSize))
    return this.vdi(uuid)
  }

  /** `VDI.snapshot` (storage-semantics.md §8.3): preconditions in XAPI's then SM's order, SNAPSHOT_DOUBLE. */
  snapshotVdi(uuid: string): Promise<SnapshotResult> {
    return this.snapshotOrClone(uuid, 'snapshot')
  }

  /** `VDI.clone`: the same tree operation; thick LVHD inflates the clone; CBT logs are not rotated. */
  cloneVdi(uuid: string): Promise<SnapshotResult> {
    return this.snapshotOrClone(uuid, 'clone')
  }

  private async snapshotOrClone(uuid: string, kind: SnapshotKind): Promise<SnapshotResult> {
    const ids = await this.exclusive((tx) => snapshotOrClone(this.context, tx, uuid, kind))
    return {
      snapshot: this.vdi(ids.snapshot),
      source: this.vdi(uuid),
      baseCopy: ids.baseCopy === null ? null : this.vdi(ids.baseCopy),
    }
  }

  /**
   * `VDI.data_destroy`: drops the VHD of a CBT snapshot but keeps its record and CBT log, after
   * waiting (`dataDestroyDetachWaitMs`) for it to be detached; kicks the GC.
   */
  async dataDestroyVdi(uuid: string): Promise<VdiFacts> {
    if (this.model.vdi(uuid) !== undefined && this.model.nodeOf(uuid) === undefined) return this.vdi(uuid)
    checkDataDestroy(this.context, uuid)
    const deadline = Date.now() + this.knobs.dataDestroyDetachWaitMs
    const attached = () => (this.model.vdi(uuid)?.attachments.length ?? 0) > 0
    while (attached() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))))
    }
    await this.exclusive((tx) => dataDestroyVdi(this.context, tx, uuid))
    this.kickGc()
    return this.vdi(uuid)
  }

  // --- attach / detach -------------------------------------------------------------------------

  /** SM's `attach`+`activate` on the host: see `attach-ops.ts`. */
  async attach(uuid: string, options: AttachOptions): Promise<VdiFacts> {
    await this.exclusive((tx) => attach(this.context, tx, uuid, options))
    return this.vdi(uuid)
  }

  /** SM's `deactivate`+`detach`: the CBT log closes cleanly; thin LVHD leaves and snapshots deflate. */
  async detach(uuid: string, holder: string): Promise<VdiFacts> {
    await this.exclusive((tx) => detach(this.context, tx, uuid, holder))
    return this.vdi(uuid)
  }

  /** The simulated host went down (`clean` or crashed). */
  async hostDown(clean: boolean): Promise<void> {
    await this.exclusive((tx) => hostDown(this.context, tx, clean))
  }

  // --- CBT -------------------------------------------------------------------------------------

  /** `VDI.enable_cbt`: a fresh all-zero log (LVHD: a 4 MiB LV, 457 when the VG is full). */
  async enableCbt(uuid: string): Promise<VdiFacts> {
    requireVhdSr(this.model, 'VDI.enable_cbt')
    await this.exclusive((tx) => enableCbt(this.context, tx, uuid))
    return this.vdi(uuid)
  }

  /** `VDI.disable_cbt`: deletes the log; the previous log's child link is cleared. */
  async disableCbt(uuid: string): Promise<VdiFacts> {
    requireVhdSr(this.model, 'VDI.disable_cbt')
    await this.exclusive((tx) => disableCbt(this.context, tx, uuid))
    return this.vdi(uuid)
  }

  /**
   * `VDI.list_changed_blocks(from, to)`: base64 of the OR of the logs after `from` through `to`,
   * MSB first (storage-semantics.md §5.4).
   */
  listChangedBlocks(from: string, to: string): Promise<string> {
    return this.lock.run(() => changedBlocks(this.context, from, to))
  }

  // --- contents --------------------------------------------------------------------------------

  /** A guest (or import) write of any length at any byte offset of a managed VDI. */
  async write(uuid: string, offset: number, data: Uint8Array): Promise<void> {
    await this.exclusive(async (tx) => {
      const { node, entry } = writable(this.context, uuid)
      if (await applyWrites(this.context, node, entry, [{ offset, data }])) tx.changed()
    })
  }

  /** Whole 2 MiB blocks (the last block of an odd-sized raw image may be shorter), committed in batches. */
  async writeBlocks(
    uuid: string,
    blocks: Iterable<BlockWrite> | AsyncIterable<BlockWrite>,
    options: { skipZeroUnallocated?: boolean } = {},
  ): Promise<void> {
    let batch: BlockWrite[] = []
    const flush = async () => {
      const writes = batch
      batch = []
      if (writes.length === 0) return
      await this.exclusive(async (tx) => {
        const { node, entry } = writable(this.context, uuid)
        const skip = (w: BlockWrite) =>
          options.skipZeroUnallocated === true && isZero(w.data) && unallocatedInChain(this.model, node, w.index)
        const ranges = writes
          .filter((w) => !skip(w))
          .map((w) => {
            if (w.data.length > BLOCK_SIZE) {
              throw errors.invalidArgument('data', `block ${w.index} has ${w.data.length} bytes, more than 2 MiB`)
            }
            return { offset: w.index * BLOCK_SIZE, data: w.data }
          })
        if (await applyWrites(this.context, node, entry, ranges)) tx.changed()
      })
    }
    for await (const block of blocks) {
      batch.push(block)
      if (batch.length >= WRITE_BATCH_BLOCKS) await flush()
    }
    await flush()
  }

  /** Synthetic contents written into a leaf (a fixture's fill): counted, exported, never stored. */
  async fillSynthetic(uuid: string, fill: SyntheticFill): Promise<VdiFacts> {
    await this.exclusive(async (tx) => {
      const { node, entry } = writable(this.context, uuid)
      const ranges = applyFill(this.context, node, fill)
      const log = entry.cbt?.log
      if (log !== undefined) {
        for (const r of ranges) await this.cbtFiles.mark(log, r.start * BLOCK_SIZE, (r.end - r.start) * BLOCK_SIZE)
      }
      tx.changed()
    })
    return this.vdi(uuid)
  }

  /** Bytes `[offset, offset + length)` of the VDI's merged view. */
  read(uuid: string, offset: number, length: number): Promise<Buffer> {
    return this.lock.run(() => readRange(this.context, uuid, offset, length))
  }

  /** Block `index` of the merged view: 2 MiB, or less for the last block of an odd-sized image. */
  readBlock(uuid: string, index: number): Promise<Buffer> {
    return this.lock.run(() => readBlockOf(this.context, uuid, index))
  }

  /**
   * Blocks a VHD export of `uuid` carries, ascending (storage-semantics.md §1.9): full = allocated
   * anywhere in its chain; with `base`, allocated in chain(vdi) Δ chain(base). A base whose data was
   * destroyed fails with `VDI_INCOMPATIBLE_TYPE` (XAPI cannot attach it: the handler answers 500 and
   * XO falls back to a full export); a raw base with `INTERNAL_ERROR` (vhd-tool refuses to diff).
   * An unrelated base is accepted, as vhd-tool does: the delta then holds both chains' blocks.
   */
  async blocksToExport(uuid: string, base?: { sr: SrEngine; vdi: string }): Promise<number[]> {
    return [...indicesOf(await this.exportRangesOf(uuid, base))]
  }

  /** `blocksToExport` as ranges `[start, end)`, cheaper for big disks. */
  exportRangesOf(uuid: string, base?: { sr: SrEngine; vdi: string }): Promise<Array<{ start: number; end: number }>> {
    return this.lock.run(async () =>
      exportRangesFor(this.context, uuid, base === undefined ? undefined : { model: base.sr.model, vdi: base.vdi }),
    )
  }

  /** The merged view as runs of stored or synthetic blocks, so a copy can keep synthetic blocks free. */
  contentRuns(uuid: string): Promise<ContentRun[]> {
    return this.lock.run(async () => contentRunsOf(this.context, uuid))
  }

  // --- scan and GC -----------------------------------------------------------------------------

  /** `SR.scan`: the facts of every VDI (for XAPI to reconcile records), and a GC kick. */
  async scan(): Promise<VdiFacts[]> {
    const facts = await this.exclusive(() => this.vdis())
    this.kickGc()
    return facts
  }

  private kickGc(): void {
    if (this.model.family !== 'iso' && !this.closed) this.gcEngine.kick()
  }

  /** The GC of this SR: kick, freeze/unfreeze, fault injection, and waiting for it to be idle. */
  get gc(): GcControl {
    const engine = this.gcEngine
    const sr = this
    return {
      kick: () => this.kickGc(),
      freeze: () => engine.freeze(),
      unfreeze: () => engine.unfreeze(),
      whenIdle: () => engine.whenIdle(),
      expedite: () => engine.expedite(),
      get active() {
        return engine.active
      },
      get frozen() {
        return sr.model.gc.frozen
      },
      get lastError() {
        return engine.lastError
      },
      injectCoalesceFailure: (errno, count) => engine.injectCoalesceFailure(errno, count),
    }
  }

  /** Test hooks that damage state the way real failures do. */
  readonly faults = {
    /** The next CBT log resize fails (`cbt-util set -s`): CBT is disabled, `VDI_CBT_RESIZE_FAILED`. */
    failNextCbtResize: (): void => {
      this.injected.cbtResize++
    },
    /** The next snapshot cannot create the new leaf log: CBT is disabled, `VDI_CBT_SNAPSHOT_FAILED`. */
    failNextCbtSnapshot: (): void => {
      this.injected.cbtSnapshot++
    },
    /** Cuts a CBT log's bitmap short, so `list_changed_blocks` through it fails with 459. */
    truncateCbtBitmap: async (uuid: string, bytes = 0): Promise<void> => {
      await this.lock.run(async () => {
        const log = entryOf(this.context, uuid).cbt
        if (log === null) throw errors.vdiNoCbtMetadata(uuid)
        await this.cbtFiles.truncateTo(log.log, bytes)
      })
    },
  }

  private gcHost(): GcHost {
    const ctx = this.context
    return {
      srUuid: this.model.uuid,
      knobs: this.knobs,
      model: () => this.model,
      exclusive: (section) => this.exclusive(section),
      srOtherConfig: () => this.records.sr(this.model.uuid)?.otherConfig ?? {},
      vdiRecord: (uuid) => this.record(uuid),
      freeSpace: () => ctx.free(),
      setReserved: (bytes) => {
        this.reserved = bytes
      },
      mergeIntoParent: (tx, child) => mergeIntoParent(ctx, tx, child),
      mergeLeafIntoParent: (tx, leaf) => mergeLeafIntoParent(ctx, tx, leaf),
      internalSnapshot: async (_tx, leaf) => internalSnapshot(ctx, leaf),
      deleteGarbage: (tx, node) => deleteGarbage(ctx, tx, node),
      setPaused: (vdi, paused) => ctx.setPaused(vdi, paused),
      emitTask: (event) => this.emitter.emit('gc-task', event),
      emitMessage: (event) => this.emitter.emit('message', event),
    }
  }
}
