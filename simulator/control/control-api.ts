import type { SimulatorCore } from '../core'
import type { FaultRuleInput, FaultStatus } from '../faults/fault-rules'
import type { OperationStats } from '../faults/operation-probe'
import type { DiskTarget } from '../integration/guest-disks'
import type { SimulatorKnobs, SimulatorKnobsPatch } from '../integration/integration-knobs'
import { simulateXapiRestart } from '../lifecycle'
import type { GcRequest, GcStatus, StorageControlApi } from './storage-control'

export interface SimulatorInfo {
  readonly poolRef: string
  readonly poolUuid: string
  readonly masterRef: string
  /** Database generation (first half of event tokens). */
  readonly generation: number
  readonly sessions: number
  readonly pendingTasks: number
  /** Calls held by `stuck` faults. */
  readonly stuckCalls: number
}

/**
 * What tests and demos can do to a running simulator besides calling XAPI: script faults, watch
 * concurrency, simulate a toolstack restart. The same operations exist in-process
 * ({@link SimulatorControl}) and over HTTP under `/sim/` ({@link SimulatorControlClient}).
 */
export interface SimulatorControlApi extends StorageControlApi {
  info(): Promise<SimulatorInfo>
  /** Adds a fault rule (see `faultRuleSchema`); returns its id. */
  addFault(rule: FaultRuleInput): Promise<string>
  removeFault(id: string): Promise<boolean>
  /** Removes every rule and releases stuck calls. */
  clearFaults(): Promise<void>
  listFaults(): Promise<FaultStatus[]>
  /** Lets the calls a `stuck` rule holds (all rules when no id) finish; returns how many. */
  releaseStuck(ruleId?: string): Promise<number>
  /** Logins addressed to any host name but `masterAddress` fail with HOST_IS_SLAVE; undefined turns it off. */
  setHostIsSlave(masterAddress: string | undefined): Promise<void>
  /** Ends one session, or all; returns how many ended. */
  invalidateSessions(sessionRef?: string): Promise<number>
  restartXapi(): Promise<{ poolRef: string }>
  /** Calls, operations in flight and peak concurrency per method (name without `Async.`). */
  operationStats(): Promise<Record<string, OperationStats>>
  resetOperationStats(): Promise<void>
  /** Writes the database to the state directory now. */
  flush(): Promise<void>
}

export class SimulatorControl implements SimulatorControlApi {
  constructor(
    private readonly core: SimulatorCore,
    private readonly persist: () => Promise<void>,
    private readonly storage: StorageControlApi,
  ) {}

  async info(): Promise<SimulatorInfo> {
    const { core } = this
    const poolRef = core.poolRef()
    return {
      poolRef,
      poolUuid: String(core.db.get('pool', poolRef).uuid),
      masterRef: core.masterRef(),
      generation: core.db.generation,
      sessions: core.sessions.count,
      pendingTasks: core.db.filter('task', (task) => task.status === 'pending').length,
      stuckCalls: core.faults.stuckCount,
    }
  }

  async addFault(rule: FaultRuleInput): Promise<string> {
    return this.core.faults.add(rule)
  }

  async removeFault(id: string): Promise<boolean> {
    return this.core.faults.remove(id)
  }

  async clearFaults(): Promise<void> {
    this.core.faults.clear()
  }

  async listFaults(): Promise<FaultStatus[]> {
    return this.core.faults.list()
  }

  async releaseStuck(ruleId?: string): Promise<number> {
    return this.core.faults.release(ruleId)
  }

  async setHostIsSlave(masterAddress: string | undefined): Promise<void> {
    this.core.modes.hostIsSlave = masterAddress === undefined ? undefined : { masterAddress }
  }

  async invalidateSessions(sessionRef?: string): Promise<number> {
    if (sessionRef !== undefined) return this.core.sessions.invalidate(sessionRef) ? 1 : 0
    return this.core.sessions.invalidateAll()
  }

  async restartXapi(): Promise<{ poolRef: string }> {
    return simulateXapiRestart(this.core)
  }

  async operationStats(): Promise<Record<string, OperationStats>> {
    return this.core.probe.all()
  }

  async resetOperationStats(): Promise<void> {
    this.core.probe.reset()
  }

  async flush(): Promise<void> {
    await this.persist()
  }

  writeDisk(target: DiskTarget, offset: number, data: Uint8Array): Promise<void> {
    return this.storage.writeDisk(target, offset, data)
  }

  writePattern(target: DiskTarget, pattern: { seed: number; offset: number; length: number }): Promise<void> {
    return this.storage.writePattern(target, pattern)
  }

  changeBlocks(target: DiskTarget, change: { seed: number; fraction: number }): Promise<number[]> {
    return this.storage.changeBlocks(target, change)
  }

  readDisk(target: DiskTarget, offset: number, length: number): Promise<Buffer> {
    return this.storage.readDisk(target, offset, length)
  }

  diskDigest(target: DiskTarget): Promise<{ sha256: string; virtualSize: number }> {
    return this.storage.diskDigest(target)
  }

  gc(sr: string, request: GcRequest): Promise<GcStatus> {
    return this.storage.gc(sr, request)
  }

  knobs(): Promise<SimulatorKnobs> {
    return this.storage.knobs()
  }

  setKnobs(patch: SimulatorKnobsPatch): Promise<SimulatorKnobs> {
    return this.storage.setKnobs(patch)
  }

  snapshotStats(): Promise<OperationStats> {
    return this.storage.snapshotStats()
  }
}
