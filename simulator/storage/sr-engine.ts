import { randomUUID } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import { mkdir, readdir, readFile, rm, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import {
  growthForAllocation,
  srFreeSpace,
  srPhysicalUtilisation,
  srVirtualAllocation,
  vdiPhysicalUtilisation,
  vdiVirtualSize,
  vhdPhysicalSize,
} from './accounting'
import { isAtomicTemporary, writeFileAtomic } from './atomic-file'
import { BlockFiles } from './block-files'
import { listChangedBlocks } from './cbt'
import { CbtFiles } from './cbt-files'
import { exportRanges, indicesOf, readMergedBlock, resolvedRuns, type SourceRun } from './chain-view'
import { errors, StorageError, smFailure } from './errors'
import type { SrFacts, StorageEventMap, VdiFacts } from './events'
import { ExtentMap, REAL } from './extent-map'
import { type CoalesceErrno, GcEngine, type GcHost, type SrTransaction } from './gc'
import type { Knobs } from './knobs'
import { SrModel, VdiEntry, VhdNode } from './model'
import { Mutex } from './mutex'
import type { RecordView, VdiRecordFacts } from './records'
import { type Allocation, SrRecordSchema, type SrType, UuidSchema } from './schema'
import {
  BLOCK_SIZE,
  blockCount,
  calcOverheadEmpty,
  deflatedLvSize,
  inflatedLvSize,
  LVHD_CBT_LOG_SIZE,
  LVHD_JOURNAL_SIZE,
  lvSizeFor,
  MAX_VHD_SIZE,
  MIN_VHD_SIZE,
  MiB,
  roundUp,
  THIN_LV_SIZE,
} from './sizes'
import { isSyntheticSeed, syntheticLayout } from './synthetic'

/** Blocks allocated from a seed instead of stored bytes: a fraction of the disk, or explicit ranges. */
export type SyntheticFill =
  | { seed: number; fraction: number }
  | { seed: number; ranges: ReadonlyArray<{ start: number; end: number }> }

export interface CreateVdiOptions {
  /** Uuid of the new VDI (random by default). */
  uuid?: string
  /** Bytes; rounded up to 2 MiB like SM (ISO images keep their exact size). */
  virtualSize: number
  /** A raw image instead of a VHD (`sm_config type=raw`): cannot be snapshotted, no CBT. */
  raw?: boolean
  /** Synthetic contents: a fixture's "40 % full" disk without storing its bytes. */
  fill?: SyntheticFill
  /** Bytes written at offset 0 before the VDI is introduced (an ISO image, a small fixture). */
  content?: Uint8Array
}

export interface AttachOptions {
  /** Who attaches (a VBD ref, an NBD connection id...); detach names the same holder. */
  holder: string
  readOnly?: boolean
  /** The VBD belongs to a snapshot VM: does not block `list_changed_blocks`. */
  snapshotVm?: boolean
}

export interface SnapshotResult {
  /** The new snapshot (or clone). */
  snapshot: VdiFacts
  /** The source VDI, same uuid, now a new empty leaf. */
  source: VdiFacts
  /** The base copy introduced, absent when nothing was written since the last snapshot. */
  baseCopy: VdiFacts | null
}

export interface BlockWrite {
  index: number
  data: Uint8Array
}

/** Where a run of the merged view comes from, for copies that keep synthetic blocks synthetic. */
export type ContentRun =
  | { start: number; end: number; kind: 'stored' }
  | { start: number; end: number; kind: 'synthetic'; seed: number }

type Emitter = EventEmitter<StorageEventMap>

const SR_FILE = 'sr.json'

/** Writes with at most this many blocks share one metadata commit (imports stream through here). */
const WRITE_BATCH_BLOCKS = 32

/**
 * The storage manager of one SR: its VHD trees, contents, sizes, CBT logs and garbage collector.
 * Every change runs under the SR lock and is committed atomically to `sr.json` before it is
 * published as VDI/SR facts.
 */
export class SrEngine {
  private model: SrModel
  private readonly lock = new Mutex()
  private readonly files: BlockFiles
  private readonly cbtFiles: CbtFiles
  private readonly gcEngine: GcEngine
  private reserved = 0
  private readonly paused = new Set<string>()
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
    return this.vdiFacts(this.entry(uuid))
  }

  has(uuid: string): boolean {
    return this.model.vdi(uuid) !== undefined
  }

  /** `vhd-util query -d`: VHDs from the VDI's to the root inclusive. */
  depth(uuid: string): number {
    return this.model.depth(this.nodeFor(uuid, 'depth'))
  }

  /** VDI uuids from this VDI up to the root of its tree. */
  chain(uuid: string): string[] {
    return this.model.chain(this.nodeFor(uuid, 'chain')).map((node) => node.vdi)
  }

  /** Number of allocated 2 MiB blocks in the VDI's own VHD (not its ancestors). */
  allocatedBlocks(uuid: string): number {
    return this.nodeFor(uuid, 'allocatedBlocks').blocks.count
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
    const current = new Map<string, VdiFacts>()
    for (const entry of this.model.allVdis()) current.set(entry.uuid, this.vdiFacts(entry))
    const introduced: VdiFacts[] = []
    const updated: VdiFacts[] = []
    const next = new Map<string, string>()
    for (const [uuid, facts] of current) {
      const json = JSON.stringify(facts)
      next.set(uuid, json)
      const before = this.published.get(uuid)
      if (before === undefined) introduced.push(facts)
      else if (before !== json) updated.push(facts)
    }
    const forgotten = [...this.published.keys()].filter((uuid) => !current.has(uuid))
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
  private exclusive<T>(section: (tx: SrTransaction) => Promise<T>): Promise<T> {
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

  // --- lookups and checks ----------------------------------------------------------------------

  private entry(uuid: string): VdiEntry {
    const entry = this.model.vdi(uuid)
    if (entry === undefined) throw errors.uuidInvalid('VDI', uuid)
    return entry
  }

  private nodeFor(uuid: string, operation: string): VhdNode {
    this.entry(uuid)
    const node = this.model.nodeOf(uuid)
    if (node === undefined) {
      throw new StorageError(
        'VDI_INCOMPATIBLE_TYPE',
        [uuid, 'cbt_metadata'],
        [{ cls: 'VDI', uuid }],
        `${operation}: the VDI's data was destroyed`,
      )
    }
    return node
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

  private srOtherConfig(): Readonly<Record<string, string>> {
    return this.records.sr(this.model.uuid)?.otherConfig ?? {}
  }

  private free(): number {
    return srFreeSpace(this.model, this.knobs, this.reserved)
  }

  private requireVhdSr(operation: string): void {
    if (this.model.family === 'iso') {
      throw errors.srOperationNotSupported(this.model.uuid, `${operation} is not supported on an ISO SR`)
    }
  }

  private attachedReadWrite(entry: VdiEntry): boolean {
    return entry.attachments.some((a) => !a.readOnly)
  }

  private validateSize(size: number, exact: boolean): number {
    if (!Number.isSafeInteger(size) || size <= 0 || size > MAX_VHD_SIZE) {
      throw smFailure(79, `VDI size must be between 1 MB and ${MAX_VHD_SIZE / MiB} MB`, `virtualSize ${size}`)
    }
    return exact ? size : roundUp(Math.max(size, MIN_VHD_SIZE), BLOCK_SIZE)
  }

  // --- VDI lifecycle ---------------------------------------------------------------------------

  /** `VDI.create`: a new empty VDI (thick LVHD reserves its full LV, or fails with 44). */
  async createVdi(options: CreateVdiOptions): Promise<VdiFacts> {
    const uuid = options.uuid ?? randomUUID()
    if (!UuidSchema.safeParse(uuid).success) throw errors.invalidArgument('uuid', `${uuid} is not a lowercase uuid`)
    const iso = this.model.family === 'iso'
    const raw = iso || options.raw === true
    const virtualSize = this.validateSize(options.virtualSize, raw)
    if (options.content !== undefined && options.content.length > virtualSize) {
      throw errors.invalidArgument('content', `${options.content.length} bytes do not fit in ${virtualSize}`)
    }
    await this.exclusive(async (tx) => {
      if (this.model.vdi(uuid) !== undefined) throw errors.invalidArgument('uuid', `VDI ${uuid} already exists`)
      let lvSize: number | undefined
      if (this.model.family === 'lvhd') {
        lvSize = raw
          ? lvSizeFor(virtualSize)
          : this.model.allocation === 'thick'
            ? inflatedLvSize(virtualSize)
            : THIN_LV_SIZE
        if (lvSize > this.free()) throw smFailure(44, undefined, `VDI.create needs ${lvSize} bytes`)
      }
      this.model.addVdi(new VdiEntry(uuid, 'create', undefined, null, [], undefined, undefined))
      const node = new VhdNode(randomUUID(), uuid, null, false, raw, virtualSize, new ExtentMap(), lvSize)
      this.model.addNode(node)
      if (options.content !== undefined && options.content.length > 0) {
        await this.applyWrites(node, this.model.vdi(uuid)!, [{ offset: 0, data: options.content }], true)
      }
      if (options.fill !== undefined) this.applyFill(node, options.fill)
      tx.changed()
    })
    return this.vdi(uuid)
  }

  /** `VDI.destroy`: the leaf goes now (space freed), its CBT history folds into the next log, GC kicked. */
  async destroyVdi(uuid: string): Promise<void> {
    await this.exclusive(async (tx) => {
      const entry = this.entry(uuid)
      const node = this.model.nodeOf(uuid)
      if (node?.hidden === true) throw errors.vdiNotManaged(uuid)
      if (entry.attachments.length > 0) throw errors.vdiInUse(uuid, 'destroy')
      if (entry.cbt !== null) await this.foldCbtLog(tx, entry)
      if (node !== undefined) {
        this.model.removeNode(node)
        tx.afterCommit(() => this.files.remove(node.vhd))
      }
      this.model.removeVdi(uuid)
      this.markGcPending()
      tx.changed()
    })
    this.kickGc()
  }

  /** `VDI.resize`: grow only; a thick LVHD leaf inflates to the new size (44 when it cannot). */
  async resizeVdi(uuid: string, newSize: number): Promise<VdiFacts> {
    this.requireVhdSr('VDI.resize')
    await this.exclusive(async (tx) => {
      const entry = this.entry(uuid)
      const node = this.nodeFor(uuid, 'VDI.resize')
      if (node.hidden) throw errors.vdiNotManaged(uuid)
      if (node.raw) throw smFailure(38, undefined, 'raw VDIs cannot be resized')
      if (newSize < node.virtualSize) throw smFailure(79, 'shrinking not allowed')
      const size = this.validateSize(newSize, false)
      if (size === node.virtualSize) return
      if (this.model.family === 'lvhd' && (this.model.allocation === 'thick' || this.attachedReadWrite(entry))) {
        const target = inflatedLvSize(size)
        const growth = target - (node.lvSize ?? 0)
        if (growth > this.free()) throw smFailure(44, undefined, `VDI.resize needs ${growth} more bytes`)
        node.lvSize = Math.max(node.lvSize ?? 0, target)
      }
      node.virtualSize = size
      if (entry.cbt !== null) {
        if (this.injectedCbtFailures.resize > 0) {
          this.injectedCbtFailures.resize--
          // `resize_cbt`: the disk is resized, CBT is switched off.
          this.disableCbtOnError(
            tx,
            entry,
            'VDI_CBT_RESIZE_FAILED',
            `Resizing of CBT metadata for disk ${uuid} failed.`,
          )
        } else {
          entry.cbt.size = size
          await this.cbtFiles.resize(entry.cbt.log, size)
        }
      }
      tx.changed()
    })
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

  private async snapshotOrClone(uuid: string, kind: 'snapshot' | 'clone'): Promise<SnapshotResult> {
    const created = await this.exclusive(async (tx) => {
      const entry = this.entry(uuid)
      const record = this.record(uuid)
      this.requireVhdSr(`VDI.${kind}`)
      if (record.type === 'cbt_metadata') throw errors.vdiIncompatibleType(uuid, 'cbt_metadata')
      if (kind === 'snapshot') {
        if (record.sharable) throw errors.vdiIsSharable(uuid)
        if (record.onBoot === 'reset') throw errors.vdiOnBootIncompatible()
        if (record.currentOperations.includes('copy')) {
          throw errors.operationNotAllowed('Snapshot operation not allowed during copy.')
        }
      }
      const node = this.nodeFor(uuid, `VDI.${kind}`)
      if (node.hidden) throw errors.vdiNotManaged(uuid)
      if (node.raw) throw smFailure(38, 'Raw VDI, snapshot or clone not permitted')
      const depth = this.model.depth(node)
      if (depth >= this.knobs.maxChainDepth) {
        throw smFailure(109, undefined, `VDI ${uuid} is at depth ${depth}, the limit is ${this.knobs.maxChainDepth}`)
      }
      const sizes = this.snapshotSizes(entry, node, record, kind)
      if (sizes !== null && sizes.required > this.free()) {
        throw smFailure(44, undefined, `${kind} needs ${sizes.required} bytes, ${this.free()} are free`)
      }
      if (this.model.family === 'file' && this.free() < 2 * calcOverheadEmpty(node.virtualSize)) {
        throw smFailure(81, 'VDI clone failed error 28')
      }
      if (this.knobs.snapshotPauseMs > 0) {
        this.paused.add(uuid)
        tx.publish()
        await new Promise((resolve) => setTimeout(resolve, this.knobs.snapshotPauseMs))
        this.paused.delete(uuid)
      }
      const result = this.splitLeaf(node, sizes)
      if (result.dropped !== null) {
        const dropped = result.dropped
        tx.afterCommit(() => this.files.remove(dropped))
      }
      this.model.addVdi(new VdiEntry(result.snapshot, kind, uuid, null, [], undefined, undefined))
      this.model.addNode(result.snapshotNode)
      if (kind === 'snapshot' && entry.cbt !== null) await this.rotateCbtLog(entry, result.snapshot)
      tx.changed()
      return result
    })
    return {
      snapshot: this.vdi(created.snapshot),
      source: this.vdi(uuid),
      baseCopy: created.baseCopy === null ? null : this.vdi(created.baseCopy),
    }
  }

  /** LVHD `_snapshot` sizes: new leaf, new snapshot, and the space check `size_req`. */
  private snapshotSizes(
    entry: VdiEntry,
    node: VhdNode,
    record: VdiRecordFacts,
    kind: 'snapshot' | 'clone',
  ): { original: number; copy: number; base: number; required: number } | null {
    if (this.model.family !== 'lvhd') return null
    const full = inflatedLvSize(node.virtualSize)
    const thick = this.model.allocation === 'thick'
    const attached = kind === 'snapshot' && entry.attachments.length > 0
    const original = attached || (thick && !record.isASnapshot) ? full : THIN_LV_SIZE
    const copy = thick && kind === 'clone' ? full : THIN_LV_SIZE
    const base = lvSizeFor(vhdPhysicalSize(this.model, node))
    const required = original + copy + 2 * LVHD_JOURNAL_SIZE - ((node.lvSize ?? 0) - base)
    return { original, copy, base, required }
  }

  /**
   * The tree change of a SNAPSHOT_DOUBLE. If the leaf is an empty differencing disk (nothing written
   * since it was made), both new leaves hang off its first non-empty ancestor and no base copy
   * appears (`vhd_util_find_snapshot_target`); otherwise the leaf becomes the hidden base copy.
   * The source VDI keeps its uuid on a new empty leaf.
   */
  private splitLeaf(
    node: VhdNode,
    sizes: { original: number; copy: number; base: number } | null,
  ): { snapshot: string; snapshotNode: VhdNode; baseCopy: string | null; dropped: string | null } {
    const model = this.model
    const source = node.vdi
    let target: VhdNode = node
    while (target.blocks.count === 0 && target.parent !== null) target = model.parentOf(target)!
    let baseCopy: string | null = null
    let dropped: string | null = null
    if (target === node) {
      baseCopy = randomUUID()
      model.addVdi(new VdiEntry(baseCopy, 'base-copy', undefined, null, [], undefined, undefined))
      model.setVdi(node, baseCopy)
      node.hidden = true
      if (sizes !== null) node.lvSize = sizes.base
    } else {
      model.removeNode(node)
      dropped = node.vhd
    }
    const leaf = new VhdNode(
      randomUUID(),
      source,
      target.vhd,
      false,
      false,
      node.virtualSize,
      new ExtentMap(),
      sizes?.original,
    )
    model.addNode(leaf)
    const snapshot = randomUUID()
    const snapshotNode = new VhdNode(
      randomUUID(),
      snapshot,
      target.vhd,
      false,
      false,
      node.virtualSize,
      new ExtentMap(),
      sizes?.copy,
    )
    return { snapshot, snapshotNode, baseCopy, dropped }
  }

  /** `VDI.data_destroy`: drops the VHD of a CBT snapshot but keeps its record and CBT log. */
  async dataDestroyVdi(uuid: string): Promise<VdiFacts> {
    const entry = this.entry(uuid)
    if (this.model.nodeOf(uuid) === undefined) return this.vdi(uuid)
    const record = this.record(uuid)
    if (!record.isASnapshot) throw errors.operationNotAllowed(`VDI is not a snapshot: ${uuid}`, uuid)
    if (entry.cbt === null) throw errors.vdiNoCbtMetadata(uuid)
    const deadline = Date.now() + this.knobs.dataDestroyDetachWaitMs
    while (entry.attachments.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))))
    }
    await this.exclusive(async (tx) => {
      const current = this.entry(uuid)
      const node = this.model.nodeOf(uuid)
      if (node === undefined) return
      if (current.attachments.length > 0) throw errors.vdiInUse(uuid, 'data_destroy')
      if (node.hidden) throw errors.vdiNotManaged(uuid)
      current.dataDestroyedSize = node.virtualSize
      this.model.removeNode(node)
      tx.afterCommit(() => this.files.remove(node.vhd))
      this.markGcPending()
      tx.changed()
    })
    this.kickGc()
    return this.vdi(uuid)
  }

  // --- attach / detach -------------------------------------------------------------------------

  /**
   * `VDI.attach`+`activate` on a host: a read-write attach inflates a thin LVHD leaf (180 when the VG
   * cannot hold it) and opens the CBT log, which must have been closed cleanly.
   */
  async attach(uuid: string, options: AttachOptions): Promise<VdiFacts> {
    const readOnly = options.readOnly ?? false
    await this.exclusive(async (tx) => {
      const entry = this.entry(uuid)
      const node = this.nodeFor(uuid, 'VDI.attach')
      if (!readOnly && (node.hidden || this.model.family === 'iso')) {
        throw errors.vdiReadOnly(uuid, 'read-only VDIs attach read-only')
      }
      const others = entry.attachments.filter((a) => a.holder !== options.holder)
      const wasReadWrite = others.some((a) => !a.readOnly)
      if (!readOnly && !wasReadWrite) {
        if (this.model.family === 'lvhd' && !node.raw) {
          const target = inflatedLvSize(node.virtualSize)
          const growth = target - (node.lvSize ?? 0)
          if (growth > this.free()) throw smFailure(180, undefined, `inflating needs ${growth} bytes`)
          node.lvSize = Math.max(node.lvSize ?? 0, target)
        }
        if (entry.cbt !== null) {
          if (entry.cbt.consistent) entry.cbt.consistent = false
          else
            this.disableCbtOnError(
              tx,
              entry,
              'VDI_CBT_METADATA_INCONSISTENT',
              `Changed Block Tracking metadata is inconsistent for disk ${uuid}.`,
            )
        }
      }
      entry.attachments = [...others, { holder: options.holder, readOnly, snapshotVm: options.snapshotVm ?? false }]
      tx.changed()
    })
    return this.vdi(uuid)
  }

  /** `VDI.deactivate`+`detach`: closes the CBT log cleanly; thin LVHD leaves and snapshots deflate. */
  async detach(uuid: string, holder: string): Promise<VdiFacts> {
    await this.exclusive(async (tx) => {
      const entry = this.entry(uuid)
      const before = entry.attachments.length
      entry.attachments = entry.attachments.filter((a) => a.holder !== holder)
      if (entry.attachments.length === before) return
      if (!this.attachedReadWrite(entry)) this.closeCleanly(entry)
      tx.changed()
    })
    return this.vdi(uuid)
  }

  private closeCleanly(entry: VdiEntry): void {
    if (entry.cbt !== null) entry.cbt.consistent = true
    const node = this.model.nodeOf(entry.uuid)
    if (node === undefined || node.raw || this.model.family !== 'lvhd' || entry.attachments.length > 0) return
    if (this.model.allocation === 'thin' || this.record(entry.uuid).isASnapshot) {
      node.lvSize = Math.min(node.lvSize ?? 0, deflatedLvSize(node.blocks.count))
    }
  }

  /** The simulated host went down: attachments vanish; after a crash CBT logs stay marked open. */
  async hostDown(clean: boolean): Promise<void> {
    await this.exclusive(async (tx) => {
      for (const entry of this.model.allVdis()) {
        if (entry.attachments.length === 0) continue
        entry.attachments = []
        if (clean) this.closeCleanly(entry)
      }
      this.model.gc.bootInitDone = false
      tx.changed()
    })
  }

  // --- CBT -------------------------------------------------------------------------------------

  /** `VDI.enable_cbt`: a fresh all-zero log (LVHD: a 4 MiB LV, 457 when the VG is full). */
  async enableCbt(uuid: string): Promise<VdiFacts> {
    this.requireVhdSr('VDI.enable_cbt')
    await this.exclusive(async (tx) => {
      const entry = this.checkCbtToggle(uuid)
      if (entry.cbt !== null) return
      const node = this.model.nodeOf(uuid)!
      if (this.model.family === 'lvhd' && LVHD_CBT_LOG_SIZE > this.free()) {
        throw smFailure(457, 'There is insufficient space')
      }
      const log = randomUUID()
      await this.cbtFiles.create(log, node.virtualSize)
      entry.cbt = { log, parent: null, child: null, consistent: !this.attachedReadWrite(entry), size: node.virtualSize }
      tx.changed()
    })
    return this.vdi(uuid)
  }

  /** `VDI.disable_cbt`: deletes the log; the previous log's child link is cleared. */
  async disableCbt(uuid: string): Promise<VdiFacts> {
    this.requireVhdSr('VDI.disable_cbt')
    await this.exclusive(async (tx) => {
      const entry = this.checkCbtToggle(uuid)
      if (entry.cbt === null) return
      this.dropCbtLog(tx, entry)
      tx.changed()
    })
    return this.vdi(uuid)
  }

  private checkCbtToggle(uuid: string): VdiEntry {
    const entry = this.entry(uuid)
    const record = this.record(uuid)
    if (record.type === 'cbt_metadata') throw errors.vdiIncompatibleType(uuid, 'cbt_metadata')
    if (record.isASnapshot) throw errors.operationNotAllowed(`VDI is a snapshot: ${uuid}`, uuid)
    if (record.type !== 'user' && record.type !== 'system') throw errors.vdiIncompatibleType(uuid, record.type)
    if (record.onBoot === 'reset') throw errors.vdiOnBootIncompatible()
    const node = this.model.nodeOf(uuid)!
    if (node.hidden) throw errors.vdiNotManaged(uuid)
    if (node.raw) throw smFailure(66, 'Raw VDI or snapshot not permitted')
    return entry
  }

  private dropCbtLog(tx: SrTransaction, entry: VdiEntry): void {
    const log = entry.cbt
    if (log === null) return
    const parent = log.parent === null ? undefined : this.model.vdi(log.parent)
    if (parent?.cbt != null && parent.cbt.child === entry.uuid) parent.cbt.child = null
    entry.cbt = null
    tx.afterCommit(() => this.cbtFiles.remove(log.log))
  }

  /** SM's `_disable_cbt_on_error`: the log goes, CBT is off, a priority-3 message tells why. */
  private disableCbtOnError(tx: SrTransaction, entry: VdiEntry, name: string, body: string): void {
    const log = entry.cbt
    if (log === null) return
    entry.cbt = null
    tx.afterCommit(() => this.cbtFiles.remove(log.log))
    this.emitter.emit('message', {
      action: 'create',
      uuid: randomUUID(),
      name,
      priority: 3,
      cls: 'VDI',
      objUuid: entry.uuid,
      body,
    })
  }

  /**
   * `_cbt_snapshot`: the source's log (writes since the previous snapshot) becomes the snapshot's,
   * marked consistent; the source starts a fresh log linked after it.
   */
  private async rotateCbtLog(source: VdiEntry, snapshot: string): Promise<void> {
    const log = source.cbt!
    const previous = log.parent === null ? undefined : this.model.vdi(log.parent)
    if (previous?.cbt != null) previous.cbt.child = snapshot
    // On LVHD the snapshot's space check already covers the new 4 MiB log (its two journal LVs are
    // freed by then), so only an injected failure gets here.
    if (this.injectedCbtFailures.snapshot > 0) {
      this.injectedCbtFailures.snapshot--
      // The snapshot keeps the log; the source loses CBT (`VDI_CBT_SNAPSHOT_FAILED`).
      this.model.vdi(snapshot)!.cbt = { ...log, consistent: true }
      source.cbt = null
      this.emitter.emit('message', {
        action: 'create',
        uuid: randomUUID(),
        name: 'VDI_CBT_SNAPSHOT_FAILED',
        priority: 3,
        cls: 'VDI',
        objUuid: source.uuid,
        body: `Creating CBT metadata log for disk ${source.uuid} failed.`,
      })
      return
    }
    const fresh = randomUUID()
    await this.cbtFiles.create(fresh, log.size)
    this.model.vdi(snapshot)!.cbt = { ...log, consistent: true, child: source.uuid }
    source.cbt = {
      log: fresh,
      parent: snapshot,
      child: log.child,
      consistent: !this.attachedReadWrite(source),
      size: log.size,
    }
  }

  /** `VDI.delete` of a CBT VDI: its bitmap is ORed into the next log, the list is spliced. */
  private async foldCbtLog(tx: SrTransaction, entry: VdiEntry): Promise<void> {
    const log = entry.cbt!
    const parent = log.parent === null ? undefined : this.model.vdi(log.parent)
    const child = log.child === null ? undefined : this.model.vdi(log.child)
    if (parent?.cbt != null) parent.cbt.child = log.child
    if (child?.cbt != null) {
      child.cbt.parent = log.parent
      await this.cbtFiles.orInto(child.cbt.log, await this.cbtFiles.read(log.log))
    }
    entry.cbt = null
    tx.afterCommit(() => this.cbtFiles.remove(log.log))
  }

  /**
   * `VDI.list_changed_blocks(from, to)`: base64 of the OR of the logs after `from` through `to`,
   * MSB first. `to` must not be attached except to snapshot VMs (`VDI_IN_USE`).
   */
  async listChangedBlocks(from: string, to: string): Promise<string> {
    return this.lock.run(async () => {
      this.entry(from)
      const target = this.model.vdi(to)
      if (target?.attachments.some((a) => !a.snapshotVm)) {
        throw errors.vdiInUse(to, 'list_changed_blocks')
      }
      return listChangedBlocks(
        {
          log: (vdi) => this.model.vdi(vdi)?.cbt ?? null,
          bitmap: (record) => this.cbtFiles.read(record.log),
        },
        from,
        to,
      )
    })
  }

  // --- contents --------------------------------------------------------------------------------

  /** A guest (or import) write of any length at any byte offset of a managed VDI. */
  async write(uuid: string, offset: number, data: Uint8Array): Promise<void> {
    await this.exclusive(async (tx) => {
      const { node, entry } = this.writable(uuid)
      if (await this.applyWrites(node, entry, [{ offset, data }], false)) tx.changed()
    })
  }

  /** Whole 2 MiB blocks (the last block of an odd-sized raw image may be shorter). */
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
        const { node, entry } = this.writable(uuid)
        const kept =
          options.skipZeroUnallocated === true
            ? writes.filter((w) => !(isZero(w.data) && this.unallocatedInChain(node, w.index)))
            : writes
        const ranges = kept.map((w) => {
          if (w.data.length > BLOCK_SIZE) {
            throw errors.invalidArgument('data', `block ${w.index} has ${w.data.length} bytes, more than 2 MiB`)
          }
          return { offset: w.index * BLOCK_SIZE, data: w.data }
        })
        if (await this.applyWrites(node, entry, ranges, false)) tx.changed()
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
      const { node, entry } = this.writable(uuid)
      const ranges = this.applyFill(node, fill)
      if (entry.cbt !== null) {
        for (const r of ranges)
          await this.cbtFiles.mark(entry.cbt.log, r.start * BLOCK_SIZE, (r.end - r.start) * BLOCK_SIZE)
      }
      tx.changed()
    })
    return this.vdi(uuid)
  }

  /** Bytes `[offset, offset + length)` of the VDI's merged view. */
  async read(uuid: string, offset: number, length: number): Promise<Buffer> {
    return this.lock.run(async () => {
      const node = this.nodeFor(uuid, 'read')
      checkRange(uuid, node.virtualSize, offset, length)
      const out = Buffer.alloc(length)
      for (let position = offset; position < offset + length; ) {
        const index = Math.floor(position / BLOCK_SIZE)
        const inner = position - index * BLOCK_SIZE
        const take = Math.min(BLOCK_SIZE - inner, offset + length - position)
        const block = await readMergedBlock(this.model, this.files, node, index)
        block.copy(out, position - offset, inner, inner + take)
        position += take
      }
      return out
    })
  }

  /** Block `index` of the merged view: 2 MiB, or less for the last block of an odd-sized image. */
  async readBlock(uuid: string, index: number): Promise<Buffer> {
    return this.lock.run(async () => {
      const node = this.nodeFor(uuid, 'readBlock')
      const blocks = blockCount(node.virtualSize)
      if (!Number.isInteger(index) || index < 0 || index >= blocks) {
        throw errors.invalidArgument('index', `block ${index} is outside VDI ${uuid} (${blocks} blocks)`)
      }
      const block = await readMergedBlock(this.model, this.files, node, index)
      const length = Math.min(BLOCK_SIZE, node.virtualSize - index * BLOCK_SIZE)
      return length === BLOCK_SIZE ? block : block.subarray(0, length)
    })
  }

  /**
   * Blocks a VHD export of `uuid` carries, ascending (storage-semantics.md §1.9): full = allocated
   * anywhere in its chain; with `base`, allocated in chain(vdi) Δ chain(base). A base whose data was
   * destroyed fails with `VDI_INCOMPATIBLE_TYPE` (XAPI cannot attach it: the handler answers 500 and
   * XO falls back to a full export); a raw base with `INTERNAL_ERROR` (vhd-tool refuses to diff).
   * An unrelated base is accepted, as vhd-tool does: the delta then holds both chains' blocks.
   */
  async blocksToExport(uuid: string, base?: { sr: SrEngine; vdi: string }): Promise<number[]> {
    const ranges = await this.exportRangesOf(uuid, base)
    return [...indicesOf(ranges)]
  }

  /** `blocksToExport` as ranges `[start, end)`, cheaper for big disks. */
  async exportRangesOf(
    uuid: string,
    base?: { sr: SrEngine; vdi: string },
  ): Promise<Array<{ start: number; end: number }>> {
    return this.lock.run(async () => {
      const node = this.nodeFor(uuid, 'export')
      if (base === undefined) return exportRanges(this.model, node)
      const baseModel = base.sr.model
      if (baseModel.vdi(base.vdi) === undefined) throw errors.uuidInvalid('VDI', base.vdi)
      const baseNode = baseModel.nodeOf(base.vdi)
      if (baseNode === undefined) throw errors.vdiIncompatibleType(base.vdi, 'cbt_metadata')
      if (node.raw) throw errors.internal('Cannot compute differences on non-VHD images')
      if (baseNode.raw) throw errors.internal('base VDI is not a vhd; cannot compute differences')
      return exportRanges(this.model, node, { model: baseModel, node: baseNode })
    })
  }

  /** The merged view as runs of stored or synthetic blocks, so a copy can keep synthetic blocks free. */
  async contentRuns(uuid: string): Promise<ContentRun[]> {
    return this.lock.run(async () => {
      const node = this.nodeFor(uuid, 'contentRuns')
      return resolvedRuns(this.model, node).map(
        (run: SourceRun): ContentRun =>
          run.source === REAL
            ? { start: run.start, end: run.end, kind: 'stored' }
            : { start: run.start, end: run.end, kind: 'synthetic', seed: run.source },
      )
    })
  }

  private writable(uuid: string): { node: VhdNode; entry: VdiEntry } {
    const entry = this.entry(uuid)
    const node = this.nodeFor(uuid, 'write')
    if (this.model.family === 'iso') throw errors.vdiReadOnly(uuid, 'ISO images are read-only')
    if (node.hidden) throw errors.vdiReadOnly(uuid, 'base copies are read-only')
    return { node, entry }
  }

  private unallocatedInChain(node: VhdNode, index: number): boolean {
    return this.model.chain(node).every((n) => !n.blocks.has(index))
  }

  /**
   * Writes into a leaf. A block's first write copies up the block's merged content from the chain
   * (block-granular copy-on-write keeps every view exact), then overlays the new bytes. Returns
   * whether the metadata changed (new stored blocks). Fails with `VDI_IO_ERROR`, writing nothing,
   * when the SR has no room for the new blocks, as a full filesystem or VG would.
   */
  private async applyWrites(
    node: VhdNode,
    entry: VdiEntry,
    writes: ReadonlyArray<{ offset: number; data: Uint8Array }>,
    creating: boolean,
  ): Promise<boolean> {
    const pieces = new Map<number, Array<{ inner: number; data: Uint8Array }>>()
    for (const { offset, data } of writes) {
      checkRange(entry.uuid, node.virtualSize, offset, data.length)
      for (let position = offset; position < offset + data.length; ) {
        const index = Math.floor(position / BLOCK_SIZE)
        const inner = position - index * BLOCK_SIZE
        const take = Math.min(BLOCK_SIZE - inner, offset + data.length - position)
        let list = pieces.get(index)
        if (list === undefined) {
          list = []
          pieces.set(index, list)
        }
        list.push({ inner, data: data.subarray(position - offset, position - offset + take) })
        position += take
      }
    }
    const indices = [...pieces.keys()].sort((a, b) => a - b)
    const added = indices.filter((index) => !node.blocks.has(index)).length
    const growth = growthForAllocation(this.model, node, added)
    if (growth > this.free()) {
      if (creating) throw smFailure(44, undefined, `the initial content needs ${growth} bytes`)
      throw errors.vdiIoError(`no space left on SR ${this.model.uuid} for ${added} new blocks of VDI ${entry.uuid}`)
    }
    let stored = false
    for (const index of indices) {
      const list = pieces.get(index)!
      if (node.blocks.get(index) === REAL) {
        for (const piece of list) await this.files.write(node.vhd, index, piece.inner, piece.data)
        continue
      }
      const whole = list.length === 1 && list[0]!.inner === 0 && list[0]!.data.length === BLOCK_SIZE
      const block = whole ? Buffer.from(list[0]!.data) : await readMergedBlock(this.model, this.files, node, index)
      if (!whole) for (const piece of list) block.set(piece.data, piece.inner)
      await this.files.write(node.vhd, index, 0, block)
      node.blocks.set(index, index + 1, REAL)
      stored = true
    }
    if (stored) {
      await this.files.sync(node.vhd)
      if (this.model.family === 'lvhd' && !node.raw)
        node.lvSize = Math.max(node.lvSize ?? 0, deflatedLvSize(node.blocks.count))
    }
    if (entry.cbt !== null)
      for (const { offset, data } of writes) await this.cbtFiles.mark(entry.cbt.log, offset, data.length)
    return stored
  }

  /** Allocates synthetic blocks in `node` (replacing what it held there); returns the ranges. */
  private applyFill(node: VhdNode, fill: SyntheticFill): Array<{ start: number; end: number }> {
    if (!isSyntheticSeed(fill.seed))
      throw errors.invalidArgument('fill.seed', `${fill.seed} is not an unsigned 32-bit integer`)
    const blocks = blockCount(node.virtualSize)
    const ranges = 'fraction' in fill ? syntheticLayout(fill.seed, blocks, fill.fraction) : [...fill.ranges]
    let added = 0
    const probe = node.blocks.clone()
    for (const r of ranges) {
      if (
        !(Number.isInteger(r.start) && Number.isInteger(r.end) && r.start >= 0 && r.end <= blocks && r.start <= r.end)
      ) {
        throw errors.invalidArgument('fill.ranges', `[${r.start}, ${r.end}) is not within the disk's ${blocks} blocks`)
      }
      const before = probe.count
      probe.set(r.start, r.end, fill.seed)
      added += probe.count - before
    }
    const growth = growthForAllocation(this.model, node, added)
    if (growth > this.free()) {
      throw errors.vdiIoError(`no space left on SR ${this.model.uuid} for ${added} synthetic blocks of VDI ${node.vdi}`)
    }
    node.blocks = probe
    if (this.model.family === 'lvhd' && !node.raw)
      node.lvSize = Math.max(node.lvSize ?? 0, deflatedLvSize(node.blocks.count))
    return ranges
  }

  // --- scan and GC -----------------------------------------------------------------------------

  /** `SR.scan`: the facts of every VDI (for XAPI to reconcile records), and a GC kick. */
  async scan(): Promise<VdiFacts[]> {
    const facts = await this.exclusive(async () => this.vdis())
    this.kickGc()
    return facts
  }

  private markGcPending(): void {
    this.model.gc.pending = true
  }

  private kickGc(): void {
    if (this.model.family !== 'iso' && !this.closed) this.gcEngine.kick()
  }

  /** The GC of this SR: kick, freeze/unfreeze, fault injection, and waiting for it to be idle. */
  get gc(): {
    kick(): void
    freeze(): Promise<void>
    unfreeze(): Promise<void>
    whenIdle(): Promise<void>
    expedite(): Promise<void>
    readonly active: boolean
    readonly frozen: boolean
    readonly lastError: unknown
    injectCoalesceFailure(errno: CoalesceErrno, count?: number): void
  } {
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

  private readonly injectedCbtFailures = { resize: 0, snapshot: 0 }

  /** Test hooks that damage state the way real failures do. */
  readonly faults = {
    /** The next CBT log resize fails (`cbt-util set -s`): CBT is disabled, `VDI_CBT_RESIZE_FAILED`. */
    failNextCbtResize: (): void => {
      this.injectedCbtFailures.resize++
    },
    /** The next snapshot cannot create the new leaf log: CBT is disabled, `VDI_CBT_SNAPSHOT_FAILED`. */
    failNextCbtSnapshot: (): void => {
      this.injectedCbtFailures.snapshot++
    },
    /** Cuts a CBT log's bitmap short, so `list_changed_blocks` through it fails with 459. */
    truncateCbtBitmap: async (uuid: string, bytes = 0): Promise<void> => {
      await this.lock.run(async () => {
        const log = this.entry(uuid).cbt
        if (log === null) throw errors.vdiNoCbtMetadata(uuid)
        await this.cbtFiles.truncateTo(log.log, bytes)
      })
    },
  }

  // --- GC host ---------------------------------------------------------------------------------

  private gcHost(): GcHost {
    return {
      srUuid: this.model.uuid,
      knobs: this.knobs,
      model: () => this.model,
      exclusive: (section) => this.exclusive(section),
      srOtherConfig: () => this.srOtherConfig(),
      vdiRecord: (uuid) => this.record(uuid),
      freeSpace: () => this.free(),
      setReserved: (bytes) => {
        this.reserved = bytes
      },
      mergeIntoParent: (tx, child) => this.mergeIntoParent(tx, child),
      mergeLeafIntoParent: (tx, leaf) => this.mergeLeafIntoParent(tx, leaf),
      internalSnapshot: async (_tx, leaf) => this.internalSnapshot(leaf),
      deleteGarbage: (tx, node) => {
        this.model.removeNode(node)
        this.model.removeVdi(node.vdi)
        tx.afterCommit(() => this.files.remove(node.vhd))
      },
      setPaused: (vdi, paused) => {
        if (paused) this.paused.add(vdi)
        else this.paused.delete(vdi)
      },
      emitTask: (event) => this.emitter.emit('gc-task', event),
      emitMessage: (event) => this.emitter.emit('message', event),
    }
  }

  /** Copies the child's stored blocks into the parent's file and gives the parent the child's map. */
  private async mergeData(child: VhdNode, parent: VhdNode): Promise<void> {
    let stored = false
    for (const run of child.blocks.runs()) {
      if (run.source !== REAL) continue
      for (let index = run.start; index < run.end; index++) {
        await this.files.write(parent.vhd, index, 0, await this.files.readBlock(child.vhd, index))
        stored = true
      }
    }
    if (stored) await this.files.sync(parent.vhd)
    parent.blocks.overlay(child.blocks)
    parent.virtualSize = Math.max(parent.virtualSize, child.virtualSize)
  }

  private async mergeIntoParent(tx: SrTransaction, child: VhdNode): Promise<void> {
    const model = this.model
    const parent = model.parentOf(child)!
    await this.mergeData(child, parent)
    for (const grandchild of model.children(child)) model.setParent(grandchild, parent)
    model.removeNode(child)
    model.removeVdi(child.vdi)
    if (model.family === 'lvhd' && !parent.raw) parent.lvSize = deflatedLvSize(parent.blocks.count)
    tx.afterCommit(() => this.files.remove(child.vhd))
    tx.changed()
  }

  private async mergeLeafIntoParent(tx: SrTransaction, leaf: VhdNode): Promise<void> {
    const model = this.model
    const parent = model.parentOf(leaf)!
    const vdi = leaf.vdi
    const oldBase = parent.vdi
    await this.mergeData(leaf, parent)
    model.removeNode(leaf)
    model.setVdi(parent, vdi)
    parent.hidden = false
    model.removeVdi(oldBase)
    if (model.family === 'lvhd') {
      const entry = model.vdi(vdi)!
      parent.lvSize =
        !this.record(vdi).isASnapshot || this.attachedReadWrite(entry)
          ? inflatedLvSize(parent.virtualSize)
          : deflatedLvSize(parent.blocks.count)
    }
    tx.afterCommit(() => this.files.remove(leaf.vhd))
    tx.changed()
  }

  /** SNAPSHOT_INTERNAL: the leaf's VHD becomes a hidden parent, the VDI continues on an empty leaf. */
  private internalSnapshot(leaf: VhdNode): VhdNode {
    const model = this.model
    const depth = model.depth(leaf)
    if (depth >= this.knobs.maxChainDepth) throw smFailure(109, undefined, `internal snapshot at depth ${depth}`)
    const vdi = leaf.vdi
    const base = randomUUID()
    model.addVdi(new VdiEntry(base, 'base-copy', vdi, null, [], undefined, undefined))
    model.setVdi(leaf, base)
    leaf.hidden = true
    let newLv: number | undefined
    if (model.family === 'lvhd') {
      const entry = model.vdi(vdi)!
      const full = inflatedLvSize(leaf.virtualSize)
      newLv =
        this.attachedReadWrite(entry) || (model.allocation === 'thick' && !this.record(vdi).isASnapshot)
          ? full
          : THIN_LV_SIZE
      leaf.lvSize = lvSizeFor(vhdPhysicalSize(model, leaf))
    }
    model.addNode(new VhdNode(randomUUID(), vdi, leaf.vhd, false, false, leaf.virtualSize, new ExtentMap(), newLv))
    return leaf
  }
}

function checkRange(uuid: string, size: number, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw errors.vdiIoError(`bytes [${offset}, ${offset + length}) are outside VDI ${uuid} of ${size} bytes`)
  }
}

function isZero(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) return false
  return true
}
