import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { access, mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { errors } from './errors'
import type { SrFacts, StorageEventMap, VdiFacts } from './events'
import { type Knobs, type KnobsInput, KnobsSchema, resolveKnobs } from './knobs'
import { MemoryRecordView, type RecordView } from './records'
import { type Allocation, AllocationSchema, type SrType, SrTypeSchema, srFamily, UuidSchema } from './schema'
import { type SnapshotResult, SrEngine } from './sr-engine'

export interface StorageManagerOptions {
  /** Where every SR keeps its metadata, VHD data and CBT bitmaps; survives restarts. */
  stateDir: string
  knobs?: KnobsInput
  /** XAPI's records as SM reads them; defaults to an empty in-memory view. */
  records?: RecordView
}

export interface CreateSrOptions {
  uuid?: string
  type: SrType
  /** Bytes of the filesystem (file SRs), volume group (LVHD) or ISO library. */
  physicalSize: number
  /** LVHD provisioning, thick by default (`PROVISIONING_DEFAULT`); file SRs are always thin. */
  allocation?: Allocation
}

export interface VmSnapshotItem {
  sr: string
  vdi: string
}

/**
 * The simulated storage manager of a pool: the SRs, each with its own engine, one event stream for
 * the XAPI layer, and the operations that span SRs (`VM.snapshot`'s all-or-nothing disk snapshots,
 * `VDI.copy`).
 *
 * State layout under `stateDir`: `srs/<sr uuid>/sr.json` (metadata, replaced atomically),
 * `srs/<sr uuid>/vhd/<vhd uuid>.blocks` (sparse data files), `srs/<sr uuid>/cbt/<log>.bitmap`.
 */
export class StorageManager extends EventEmitter<StorageEventMap> {
  private readonly engines = new Map<string, SrEngine>()

  private constructor(
    readonly stateDir: string,
    readonly knobs: Knobs,
    readonly records: RecordView,
  ) {
    super()
  }

  static async open(options: StorageManagerOptions): Promise<StorageManager> {
    const knobs = resolveKnobs(options.knobs)
    const manager = new StorageManager(options.stateDir, knobs, options.records ?? new MemoryRecordView())
    const srsDir = join(options.stateDir, 'srs')
    await mkdir(srsDir, { recursive: true })
    for (const name of (await readdir(srsDir)).sort()) {
      if (!UuidSchema.safeParse(name).success) continue
      const dir = join(srsDir, name)
      const exists = await access(join(dir, 'sr.json')).then(
        () => true,
        () => false,
      )
      // A directory without sr.json is an SR whose creation never committed.
      if (!exists) continue
      manager.engines.set(name, await SrEngine.load(dir, knobs, manager.records, manager))
    }
    return manager
  }

  /**
   * Changes knobs at run time (tests, demos): every SR shares this object, so later operations and GC
   * steps use the new values. Returns the knobs now in force.
   */
  setKnobs(input: Partial<Knobs>): Knobs {
    Object.assign(this.knobs, KnobsSchema.parse({ ...this.knobs, ...input }))
    return { ...this.knobs }
  }

  /** Stops the collectors (their pending work resumes at the next open) and flushes every SR. */
  async close(): Promise<void> {
    await Promise.all([...this.engines.values()].map((engine) => engine.close()))
    this.engines.clear()
  }

  async createSr(options: CreateSrOptions): Promise<SrFacts> {
    const type = SrTypeSchema.parse(options.type)
    const allocation = AllocationSchema.parse(options.allocation ?? (srFamily(type) === 'lvhd' ? 'thick' : 'thin'))
    if (!Number.isSafeInteger(options.physicalSize) || options.physicalSize <= 0) {
      throw errors.invalidArgument('physicalSize', `${options.physicalSize} is not a positive number of bytes`)
    }
    const uuid = options.uuid ?? randomUUID()
    if (!UuidSchema.safeParse(uuid).success) throw errors.invalidArgument('uuid', `${uuid} is not a lowercase uuid`)
    if (this.engines.has(uuid)) throw errors.invalidArgument('uuid', `SR ${uuid} already exists`)
    const engine = await SrEngine.create(
      join(this.stateDir, 'srs', uuid),
      { uuid, type, physicalSize: options.physicalSize, allocation },
      this.knobs,
      this.records,
      this,
    )
    this.engines.set(uuid, engine)
    return engine.facts()
  }

  /** `SR.destroy`: only when no VDI is left but garbage base copies. */
  async destroySr(uuid: string): Promise<void> {
    await this.sr(uuid).destroy()
    this.engines.delete(uuid)
  }

  sr(uuid: string): SrEngine {
    const engine = this.engines.get(uuid)
    if (engine === undefined) throw errors.uuidInvalid('SR', uuid)
    return engine
  }

  srs(): SrEngine[] {
    return [...this.engines.values()]
  }

  /** The SR holding a VDI, by VDI uuid. */
  srOfVdi(vdi: string): SrEngine {
    for (const engine of this.engines.values()) if (engine.has(vdi)) return engine
    throw errors.uuidInvalid('VDI', vdi)
  }

  /**
   * `VM.snapshot`'s disks (`xapi_vm_clone.ml safe_clone_disks`): snapshot each in turn; on a failure
   * destroy the snapshots already made (their base copies are left to the GC) and rethrow.
   */
  async snapshotMany(items: readonly VmSnapshotItem[]): Promise<SnapshotResult[]> {
    const done: Array<{ sr: SrEngine; result: SnapshotResult }> = []
    try {
      for (const item of items) {
        const sr = this.sr(item.sr)
        done.push({ sr, result: await sr.snapshotVdi(item.vdi) })
      }
    } catch (error) {
      for (const { sr, result } of done.reverse()) {
        await sr.destroyVdi(result.snapshot.uuid).catch(() => undefined)
      }
      throw error
    }
    return done.map(({ result }) => result)
  }

  /**
   * `VDI.copy`: a new VDI on `targetSr` with the merged contents of `vdi`. Synthetic blocks stay
   * synthetic, so copying a 100 GiB fixture disk stores nothing; stored blocks are copied in bounded
   * batches.
   */
  async copyVdi(vdi: string, targetSr: string, options: { uuid?: string } = {}): Promise<VdiFacts> {
    const source = this.srOfVdi(vdi)
    const target = this.sr(targetSr)
    const facts = source.vdi(vdi)
    if (facts.dataDestroyed) throw errors.vdiIncompatibleType(vdi, 'cbt_metadata')
    const created = await target.createVdi({
      virtualSize: facts.virtualSize,
      ...(options.uuid === undefined ? {} : { uuid: options.uuid }),
    })
    try {
      const runs = await source.contentRuns(vdi)
      const synthetic = runs.filter((r) => r.kind === 'synthetic')
      const seeds = new Set(synthetic.map((r) => r.seed))
      for (const seed of seeds) {
        await target.fillSynthetic(created.uuid, {
          seed,
          ranges: synthetic.filter((r) => r.seed === seed).map(({ start, end }) => ({ start, end })),
        })
      }
      const stored = runs.filter((r) => r.kind === 'stored')
      async function* blocks() {
        for (const run of stored) {
          for (let index = run.start; index < run.end; index++) {
            yield { index, data: await source.readBlock(vdi, index) }
          }
        }
      }
      await target.writeBlocks(created.uuid, blocks())
    } catch (error) {
      await target.destroyVdi(created.uuid).catch(() => undefined)
      throw error
    }
    return target.vdi(created.uuid)
  }

  /** The simulated host went down (`crash`: uncleanly, leaving CBT logs marked open) and came back. */
  async hostReboot(options: { crash?: boolean } = {}): Promise<void> {
    for (const engine of this.engines.values()) await engine.hostDown(options.crash !== true)
  }
}
