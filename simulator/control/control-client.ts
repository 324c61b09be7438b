import type { FaultRuleInput, FaultStatus } from '../faults/fault-rules'
import type { OperationStats } from '../faults/operation-probe'
import type { DiskTarget } from '../integration/guest-disks'
import type { SimulatorKnobs, SimulatorKnobsPatch } from '../integration/integration-knobs'
import type { SimulatorControlApi, SimulatorInfo } from './control-api'
import type { GcRequest, GcStatus } from './storage-control'

export type ControlCredentials = { readonly password: string } | { readonly sessionId: string }

/** Error answered by the control API (bad rule, bad credentials, unknown route). */
export class SimulatorControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
    this.name = 'SimulatorControlError'
  }
}

/** {@link SimulatorControlApi} over HTTP, for a simulator running as another process. */
export class SimulatorControlClient implements SimulatorControlApi {
  readonly #base: string
  readonly #headers: Record<string, string>

  constructor(url: string, credentials: ControlCredentials) {
    this.#base = url.replace(/\/+$/, '')
    this.#headers =
      'password' in credentials
        ? { authorization: `Basic ${Buffer.from(`root:${credentials.password}`).toString('base64')}` }
        : { 'x-session-id': credentials.sessionId }
  }

  async #request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.#base}/sim/${path}`, {
      method,
      headers: { ...this.#headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const json = (await response.json()) as T & { error?: string }
    if (!response.ok) throw new SimulatorControlError(response.status, json.error ?? `HTTP ${response.status}`)
    return json
  }

  info(): Promise<SimulatorInfo> {
    return this.#request('GET', 'info')
  }

  async addFault(rule: FaultRuleInput): Promise<string> {
    return (await this.#request<{ id: string }>('POST', 'faults', rule)).id
  }

  async removeFault(id: string): Promise<boolean> {
    return (await this.#request<{ removed: boolean }>('DELETE', `faults/${encodeURIComponent(id)}`)).removed
  }

  async clearFaults(): Promise<void> {
    await this.#request('DELETE', 'faults')
  }

  listFaults(): Promise<FaultStatus[]> {
    return this.#request('GET', 'faults')
  }

  async releaseStuck(ruleId?: string): Promise<number> {
    return (await this.#request<{ released: number }>('POST', 'faults/release', { ruleId })).released
  }

  async setHostIsSlave(masterAddress: string | undefined): Promise<void> {
    if (masterAddress === undefined) await this.#request('DELETE', 'host-is-slave')
    else await this.#request('PUT', 'host-is-slave', { masterAddress })
  }

  async invalidateSessions(sessionRef?: string): Promise<number> {
    return (await this.#request<{ invalidated: number }>('POST', 'sessions/invalidate', { sessionRef })).invalidated
  }

  restartXapi(): Promise<{ poolRef: string }> {
    return this.#request('POST', 'restart-xapi')
  }

  operationStats(): Promise<Record<string, OperationStats>> {
    return this.#request('GET', 'operations')
  }

  async resetOperationStats(): Promise<void> {
    await this.#request('DELETE', 'operations')
  }

  async flush(): Promise<void> {
    await this.#request('POST', 'flush')
  }

  async writeDisk(target: DiskTarget, offset: number, data: Uint8Array): Promise<void> {
    await this.#request('POST', 'disks/write', { target, offset, data: Buffer.from(data).toString('base64') })
  }

  async writePattern(target: DiskTarget, pattern: { seed: number; offset: number; length: number }): Promise<void> {
    await this.#request('POST', 'disks/pattern', { target, pattern })
  }

  async changeBlocks(target: DiskTarget, change: { seed: number; fraction: number }): Promise<number[]> {
    return (await this.#request<{ blocks: number[] }>('POST', 'disks/change', { target, change })).blocks
  }

  async readDisk(target: DiskTarget, offset: number, length: number): Promise<Buffer> {
    const { data } = await this.#request<{ data: string }>('POST', 'disks/read', { target, offset, length })
    return Buffer.from(data, 'base64')
  }

  diskDigest(target: DiskTarget): Promise<{ sha256: string; virtualSize: number }> {
    return this.#request('POST', 'disks/digest', { target })
  }

  gc(sr: string, request: GcRequest): Promise<GcStatus> {
    return this.#request('POST', `srs/${encodeURIComponent(sr)}/gc`, request)
  }

  knobs(): Promise<SimulatorKnobs> {
    return this.#request('GET', 'knobs')
  }

  setKnobs(patch: SimulatorKnobsPatch): Promise<SimulatorKnobs> {
    return this.#request('PUT', 'knobs', patch)
  }

  snapshotStats(): Promise<OperationStats> {
    return this.#request('GET', 'snapshots')
  }
}
