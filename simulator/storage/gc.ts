import { randomUUID } from 'node:crypto'
import { extraSpaceForCoalesce, extraSpaceForLeafCoalesce, extraSpaceForSnapshotCoalesce } from './accounting'
import { isStorageError } from './errors'
import type { GcTaskEvent, MessageEvent } from './events'
import { coalesceCandidates, findGarbage, isCoalesceable, isLeafCoalesceable, leafCoalesceCandidates } from './gc-plan'
import type { Knobs } from './knobs'
import type { SrModel, VhdNode } from './model'
import type { VdiRecordFacts } from './records'
import { BLOCK_SIZE } from './sizes'
import type { SrTransaction } from './sr-context'

/**
 * The per-SR garbage collector and coalescer (`cleanup.py`, storage-semantics.md §4 and §8.5): one
 * loop at a time, started by a kick (VDI destroy, data_destroy, SR scan), a quiet period, then until
 * no work is left: delete garbage, coalesce one non-leaf pair (tallest tree first), else leaf-coalesce
 * one leaf, re-planning before every step. Simulated time is real time scaled by the knobs.
 */

export type CoalesceErrno = 'ENOSPC' | 'EIO'

/** What the collector needs from its SR. */
export interface GcHost {
  readonly srUuid: string
  readonly knobs: Knobs
  model(): SrModel
  exclusive<T>(section: (tx: SrTransaction) => Promise<T>): Promise<T>
  srOtherConfig(): Readonly<Record<string, string>>
  vdiRecord(uuid: string): VdiRecordFacts
  freeSpace(): number
  /** Space held by the coalesce in progress, counted in the SR's utilisation. */
  setReserved(bytes: number): void
  /** Merges `child` into its parent: data, size, children re-pointed, child node and VDI gone. */
  mergeIntoParent(tx: SrTransaction, child: VhdNode): Promise<void>
  /** Leaf-coalesce: merges the leaf into its parent, which takes over the leaf's VDI uuid. */
  mergeLeafIntoParent(tx: SrTransaction, leaf: VhdNode): Promise<void>
  /** `SNAPSHOT_INTERNAL` of a leaf: returns the new hidden parent. Throws 109 past the depth limit. */
  internalSnapshot(tx: SrTransaction, leaf: VhdNode): Promise<VhdNode>
  /** Deletes a garbage node and forgets its VDI. */
  deleteGarbage(tx: SrTransaction, node: VhdNode): void
  setPaused(vdi: string, paused: boolean): void
  emitTask(event: GcTaskEvent): void
  emitMessage(event: MessageEvent): void
}

interface RunState {
  failed: Set<string>
  noSpace: Set<string>
  coalesced: number
  task: string | null
}

const strerror: Record<CoalesceErrno, { name: string; body: string }> = {
  ENOSPC: { name: 'No space left on device', body: 'Run out of space while coalescing.' },
  EIO: { name: 'Input/output error', body: 'I/O error while coalescing.' },
}

class Aborted extends Error {}

export class GcEngine {
  private loop: Promise<void> | null = null
  private rekick = false
  private closing = false
  private readonly aborter = new AbortController()
  private readonly idleWaiters: Array<() => void> = []
  private readonly sleepers = new Set<() => void>()
  /** Bumped by `expedite`: a sleep planned before the bump does not happen. */
  private expedites = 0
  private readonly injected: CoalesceErrno[] = []
  /** The last unexpected failure of a GC loop (the loop ends, the task fails, the next kick retries). */
  lastError: unknown = null

  constructor(private readonly host: GcHost) {}

  get active(): boolean {
    return this.loop !== null
  }

  /** `_kickGC`: starts a GC loop unless one is running (that one re-plans before every step). */
  kick(): void {
    if (this.closing) return
    if (this.loop !== null) {
      this.rekick = true
      return
    }
    const model = this.host.model()
    if (!model.gc.pending) {
      model.gc.pending = true
      void this.host.exclusive(async (tx) => tx.changed()).catch(() => undefined)
    }
    this.loop = this.run()
      .catch((error: unknown) => {
        this.lastError = error
      })
      .finally(() => {
        this.loop = null
        if (this.rekick && !this.closing && !this.host.model().gc.frozen) {
          this.rekick = false
          this.kick()
          return
        }
        this.rekick = false
        for (const resolve of this.idleWaiters.splice(0)) resolve()
      })
  }

  /** Resolves once no GC loop runs (immediately when frozen or idle). */
  whenIdle(): Promise<void> {
    if (this.loop === null) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  async freeze(): Promise<void> {
    await this.host.exclusive(async (tx) => {
      this.host.model().gc.frozen = true
      tx.changed()
    })
  }

  async unfreeze(): Promise<void> {
    const pending = await this.host.exclusive(async (tx) => {
      const gc = this.host.model().gc
      gc.frozen = false
      tx.changed()
      return gc.pending
    })
    if (pending) this.kick()
  }

  /** The next coalesces fail with this error (one per entry), as `vhd-util coalesce` would. */
  injectCoalesceFailure(errno: CoalesceErrno, count = 1): void {
    for (let i = 0; i < count; i++) this.injected.push(errno)
  }

  /** Resumes a GC that was pending when the simulator stopped. */
  resume(): void {
    const gc = this.host.model().gc
    if (gc.pending && !gc.frozen) this.kick()
  }

  async close(): Promise<void> {
    this.closing = true
    this.aborter.abort()
    await this.loop?.catch(() => undefined)
    for (const resolve of this.idleWaiters.splice(0)) resolve()
  }

  // --- the loop --------------------------------------------------------------------------------

  private async run(): Promise<void> {
    const state: RunState = { failed: new Set(), noSpace: new Set(), coalesced: 0, task: null }
    let status: 'success' | 'failure' = 'success'
    let finishedNormally = false
    try {
      if (this.host.model().gc.frozen || !this.enabled()) {
        finishedNormally = !this.host.model().gc.frozen
        return
      }
      if (!(await this.hasWork(state))) {
        finishedNormally = true
        return
      }
      state.task = randomUUID()
      this.task(state, 'created', 'pending')
      await this.quietPeriod()
      for (;;) {
        if (this.closing) return
        if (this.host.model().gc.frozen) return
        if (!this.enabled()) break
        if (!(await this.hasWork(state))) break
        this.task(state, 'progress', 'pending')
        await this.markBootInitDone()
        await this.collectGarbage()
        const candidate = await this.pickCoalesce(state)
        if (candidate !== null) {
          await this.coalesce(state, candidate)
          state.coalesced++
          continue
        }
        const leaf = await this.pickLeafCoalesce(state)
        if (leaf !== null) {
          await this.leafCoalesce(state, leaf)
          state.coalesced++
          continue
        }
        break
      }
      finishedNormally = true
    } catch (error) {
      if (error instanceof Aborted) return
      status = 'failure'
      finishedNormally = true
      throw error
    } finally {
      if (!this.closing) await this.checkNoSpaceCandidates(state).catch(() => undefined)
      if (state.task !== null && !this.closing) this.task(state, 'finished', status)
      if (finishedNormally && !this.closing) {
        await this.host
          .exclusive(async (tx) => {
            const gc = this.host.model().gc
            gc.pending = false
            gc.quietUntil = null
            gc.bootInitDone = true
            tx.changed()
          })
          .catch(() => undefined)
      }
    }
  }

  private enabled(): boolean {
    return this.host.srOtherConfig().gc !== 'false'
  }

  private task(state: RunState, phase: GcTaskEvent['phase'], status: GcTaskEvent['status']): void {
    if (state.task === null) return
    const remaining = coalesceCandidates(this.host.model()).length + leafCoalesceCandidates(this.host.model()).length
    const total = state.coalesced + remaining
    this.host.emitTask({
      sr: this.host.srUuid,
      task: state.task,
      phase,
      nameLabel: 'Garbage Collection',
      nameDescription: `Garbage collection for SR ${this.host.srUuid}`,
      progress: phase === 'finished' ? 1 : total === 0 ? 0 : state.coalesced / total,
      status,
    })
  }

  private async quietPeriod(): Promise<void> {
    const { knobs } = this.host
    const plannedAt = this.expedites
    const until = await this.host.exclusive(async (tx) => {
      const gc = this.host.model().gc
      if (gc.quietUntil === null) {
        const skip = knobs.bootSkipsQuietPeriod && !gc.bootInitDone
        gc.quietUntil = skip ? Date.now() : Date.now() + knobs.gcQuietPeriodMs
        tx.changed()
      }
      return gc.quietUntil
    })
    await this.sleep(until - Date.now(), plannedAt)
  }

  private async markBootInitDone(): Promise<void> {
    if (this.host.model().gc.bootInitDone) return
    await this.host.exclusive(async (tx) => {
      this.host.model().gc.bootInitDone = true
      tx.changed()
    })
  }

  /** Sleeps `ms` of simulated time; `expedite` ends it early, `close` aborts it. */
  private sleep(ms: number, plannedAt: number): Promise<void> {
    if (this.aborter.signal.aborted) return Promise.reject(new Aborted())
    if (ms <= 0 || plannedAt !== this.expedites) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        this.sleepers.delete(wake)
        this.aborter.signal.removeEventListener('abort', onAbort)
      }
      const wake = () => {
        done()
        resolve()
      }
      const onAbort = () => {
        done()
        reject(new Aborted())
      }
      const timer = setTimeout(wake, ms)
      this.sleepers.add(wake)
      this.aborter.signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Test hook: the quiet period and the coalesce in progress end now, as if their time had passed
   * (the work itself still happens, in order).
   */
  async expedite(): Promise<void> {
    // Wake first: a live leaf-coalesce sleeps holding the SR lock.
    this.expedites++
    for (const wake of [...this.sleepers]) wake()
    await this.host.exclusive(async (tx) => {
      const gc = this.host.model().gc
      const now = Date.now()
      if (gc.quietUntil !== null && gc.quietUntil > now) gc.quietUntil = now
      if (gc.inProgress !== null && gc.inProgress.endsAt > now) gc.inProgress.endsAt = now
      tx.changed()
    })
  }

  // --- planning --------------------------------------------------------------------------------

  private async hasWork(state: RunState): Promise<boolean> {
    if (findGarbage(this.host.model()).length > 0) return true
    if ((await this.pickCoalesce(state)) !== null) return true
    return (await this.pickLeafCoalesce(state)) !== null
  }

  private coalesceSwitchOff(): boolean {
    return this.host.srOtherConfig().coalesce === 'false'
  }

  /** `findCoalesceable`: the first candidate, tallest tree first, that fits the free space. */
  private async pickCoalesce(state: RunState): Promise<VhdNode | null> {
    if (this.coalesceSwitchOff()) return null
    const model = this.host.model()
    const free = this.host.freeSpace()
    for (const node of coalesceCandidates(model)) {
      if (state.failed.has(node.vhd)) continue
      const parent = model.parentOf(node)!
      if (extraSpaceForCoalesce(model, node, parent) <= free) {
        await this.clearNoSpace(state, node.vdi)
        return node
      }
      state.noSpace.add(node.vdi)
    }
    return null
  }

  private leafSkipped(node: VhdNode): boolean {
    const record = this.host.vdiRecord(node.vdi)
    return record.onBoot === 'reset' || record.allowCaching || record.otherConfig['leaf-coalesce'] === 'false'
  }

  /** `findLeafCoalesceable`: snapshot-coalesce if it fits, else live if the leaf is small enough. */
  private async pickLeafCoalesce(state: RunState): Promise<VhdNode | null> {
    const sr = this.host.srOtherConfig()
    if (sr.coalesce === 'false' || sr['leaf-coalesce'] === 'false') return null
    const model = this.host.model()
    const free = this.host.freeSpace()
    for (const leaf of leafCoalesceCandidates(model)) {
      if (state.failed.has(leaf.vhd) || this.leafSkipped(leaf)) continue
      const parent = model.parentOf(leaf)!
      let needed = extraSpaceForSnapshotCoalesce(model, leaf, parent)
      if (needed > free && this.canLiveCoalesce(leaf)) needed = extraSpaceForLeafCoalesce(model, leaf, parent)
      if (needed <= free) {
        await this.clearNoSpace(state, leaf.vdi)
        return leaf
      }
      state.noSpace.add(leaf.vdi)
    }
    return null
  }

  private speed(): number | null {
    const speeds = this.host.model().gc.speeds
    return speeds.length === 0 ? null : speeds.reduce((a, b) => a + b, 0) / speeds.length
  }

  /** `canLiveCoalesce`: merging takes less than the pause budget, or the VDI forces it. */
  private canLiveCoalesce(leaf: VhdNode): boolean {
    if (this.host.vdiRecord(leaf.vdi).otherConfig['leaf-coalesce'] === 'force') return true
    const allocated = leaf.blocks.count * BLOCK_SIZE
    const speed = this.speed()
    return speed === null
      ? allocated < this.host.knobs.liveLeafCoalesceMaxBytes
      : allocated / speed < this.host.knobs.liveLeafCoalesceSeconds
  }

  // --- steps -----------------------------------------------------------------------------------

  private async collectGarbage(): Promise<void> {
    await this.host.exclusive(async (tx) => {
      const garbage = findGarbage(this.host.model())
      for (const node of garbage) this.host.deleteGarbage(tx, node)
      if (garbage.length > 0) tx.changed()
    })
  }

  /**
   * Non-leaf coalesce of `child` into its parent; its duration is the child's data at the simulated
   * speed. Returns whether the pair was merged.
   */
  private async coalesce(state: RunState, child: VhdNode): Promise<boolean> {
    const vhd = child.vhd
    const plannedAt = this.expedites
    const endsAt = await this.host.exclusive(async (tx) => {
      const model = this.host.model()
      const node = model.node(vhd)
      if (node === undefined || !isCoalesceable(model, node)) return null
      const parent = model.parentOf(node)!
      this.host.setReserved(Math.max(0, extraSpaceForCoalesce(model, node, parent)))
      const gc = model.gc
      if (gc.inProgress?.child !== vhd) {
        gc.inProgress = { child: vhd, endsAt: Date.now() + this.duration(node) }
        tx.changed()
      }
      return gc.inProgress.endsAt
    })
    if (endsAt === null) return false
    try {
      await this.sleep(endsAt - Date.now(), plannedAt)
    } catch (error) {
      this.host.setReserved(0)
      throw error
    }
    return this.host.exclusive(async (tx) => {
      const model = this.host.model()
      this.host.setReserved(0)
      model.gc.inProgress = null
      tx.changed()
      const node = model.node(vhd)
      // Its subtree may have become garbage meanwhile; garbage collection handles that.
      if (node === undefined || !isCoalesceable(model, node)) return false
      const failure = this.injected.shift()
      if (failure !== undefined) {
        state.failed.add(vhd)
        this.reportCoalesceError(tx, failure)
        return false
      }
      const bytes = node.blocks.count * BLOCK_SIZE
      await this.host.mergeIntoParent(tx, node)
      this.recordSpeed(bytes)
      return true
    })
  }

  private duration(node: VhdNode): number {
    return ((node.blocks.count * BLOCK_SIZE) / this.host.knobs.coalesceBytesPerSecond) * 1000
  }

  private recordSpeed(bytes: number): void {
    if (bytes === 0) return
    const speeds = this.host.model().gc.speeds
    speeds.push(this.host.knobs.coalesceBytesPerSecond)
    if (speeds.length > 10) speeds.splice(0, speeds.length - 10)
  }

  /** `_coalesceLeaf`: snapshot-coalesce until the leaf is small, then a live coalesce under the SR lock. */
  private async leafCoalesce(state: RunState, leaf: VhdNode): Promise<void> {
    const vdi = leaf.vdi
    const tracker = new CoalesceTracker(this.host.knobs)
    for (;;) {
      const plan = await this.host.exclusive(async (tx) => {
        const model = this.host.model()
        const node = model.nodeOf(vdi)
        if (node === undefined || !isLeafCoalesceable(model, node)) return 'gone' as const
        if (this.canLiveCoalesce(node)) return 'live' as const
        const before = node.blocks.count
        try {
          const base = await this.host.internalSnapshot(tx, node)
          tx.changed()
          return { base, before }
        } catch (error) {
          if (isStorageError(error)) {
            state.failed.add(node.vhd)
            return 'gone' as const
          }
          throw error
        }
      })
      if (plan === 'gone') return
      if (plan === 'live') break
      const merged = await this.coalesce(state, plan.base)
      const node = this.host.model().nodeOf(vdi)
      if (node === undefined || !isLeafCoalesceable(this.host.model(), node)) return
      if (!merged || tracker.abort(plan.before, node.blocks.count)) {
        state.failed.add(node.vhd)
        return
      }
    }
    const plannedAt = this.expedites
    await this.host.exclusive(async (tx) => {
      const model = this.host.model()
      const node = model.nodeOf(vdi)
      if (node === undefined || !isLeafCoalesceable(model, node)) return
      const parent = model.parentOf(node)!
      this.host.setPaused(vdi, true)
      tx.publish()
      try {
        this.host.setReserved(Math.max(0, extraSpaceForLeafCoalesce(model, node, parent)))
        await this.sleep(this.duration(node), plannedAt)
        this.host.setReserved(0)
        const failure = this.injected.shift()
        if (failure !== undefined) {
          state.failed.add(node.vhd)
          this.reportCoalesceError(tx, failure)
          return
        }
        const bytes = node.blocks.count * BLOCK_SIZE
        await this.host.mergeLeafIntoParent(tx, node)
        this.recordSpeed(bytes)
        tx.changed()
      } finally {
        this.host.setReserved(0)
        this.host.setPaused(vdi, false)
      }
    })
  }

  // --- messages --------------------------------------------------------------------------------

  /** `_reportCoalesceError`: a message named after strerror, rate-limited by `coalesce-error-rate`. */
  private reportCoalesceError(tx: SrTransaction, errno: CoalesceErrno): void {
    const configured = this.host.srOtherConfig()['coalesce-error-rate']
    const rate = configured === undefined ? this.host.knobs.coalesceErrorRatePerMinute : Number(configured)
    const gc = this.host.model().gc
    const now = Date.now()
    let send = false
    if (rate === 0) send = true
    else if (rate > 0) {
      const spacing = (1 / rate) * 60_000
      send = gc.lastCoalesceErrorAt === null || now - gc.lastCoalesceErrorAt >= spacing
      if (send) {
        gc.lastCoalesceErrorAt = now
        tx.changed()
      }
    }
    if (!send) return
    this.host.emitMessage({
      action: 'create',
      uuid: randomUUID(),
      name: strerror[errno].name,
      priority: 3,
      cls: 'SR',
      objUuid: this.host.srUuid,
      body: strerror[errno].body,
    })
  }

  private async clearNoSpace(state: RunState, vdi: string): Promise<void> {
    state.noSpace.delete(vdi)
    const entry = this.host.model().vdi(vdi)
    if (entry?.gcNoSpace === undefined) return
    await this.host.exclusive(async (tx) => {
      const current = this.host.model().vdi(vdi)
      if (current !== undefined) current.gcNoSpace = undefined
      tx.changed()
    })
  }

  /** `check_no_space_candidates`: one SM_GC_NO_SPACE message while candidates do not fit. */
  private async checkNoSpaceCandidates(state: RunState): Promise<void> {
    await this.host.exclusive(async (tx) => {
      const model = this.host.model()
      const gc = model.gc
      const candidates = [...state.noSpace].filter((vdi) => model.vdi(vdi) !== undefined)
      if (candidates.length > 0) {
        if (gc.noSpaceMessage === null) {
          gc.noSpaceMessage = randomUUID()
          this.host.emitMessage({
            action: 'create',
            uuid: gc.noSpaceMessage,
            name: 'SM_GC_NO_SPACE',
            priority: 3,
            cls: 'SR',
            objUuid: model.uuid,
            body: `Unable to perform data coalesce due to a lack of space in SR ${model.uuid}`,
          })
        }
        for (const vdi of candidates) model.vdi(vdi)!.gcNoSpace = gc.noSpaceMessage
        tx.changed()
      } else if (gc.noSpaceMessage !== null) {
        this.host.emitMessage({ action: 'destroy', uuid: gc.noSpaceMessage })
        gc.noSpaceMessage = null
        tx.changed()
      }
    })
  }
}

/**
 * `CoalesceTracker.abortCoalesce`: never gives up during the first three iterations; afterwards an
 * iteration progresses when the leaf shrank or is below the running mean of its sizes.
 */
export class CoalesceTracker {
  private iterations = 0
  private noProgress = 0
  private minimum = Number.POSITIVE_INFINITY
  private graceRemaining = 2
  private readonly sizes: number[] = []

  constructor(private readonly knobs: Pick<Knobs, 'leafCoalesceMaxIterations' | 'leafCoalesceMaxNoProgress'>) {}

  abort(previous: number, current: number): boolean {
    this.iterations++
    this.sizes.push(current)
    this.minimum = Math.min(this.minimum, current, previous)
    if (this.iterations < 4) return false
    const mean = this.sizes.reduce((a, b) => a + b, 0) / this.sizes.length
    if (previous >= current || current < mean) return false
    this.noProgress++
    if (this.iterations > this.knobs.leafCoalesceMaxIterations) return true
    if (this.noProgress > this.knobs.leafCoalesceMaxNoProgress) return true
    if (current > 1.2 * this.minimum) {
      this.graceRemaining--
      if (this.graceRemaining === 0) return true
    }
    return false
  }
}
