import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type Xapi, type XapiOptions, type XapiRecord } from 'xen-api'
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../../simulator'

/** Simulators and clients started by a test file, stopped by {@link stopAll}. */
const running: RunningSimulator[] = []
const clients: Xapi[] = []
const directories: string[] = []

export async function startTestSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const simulator = await startSimulator({ log: () => undefined, ...options })
  running.push(simulator)
  return simulator
}

/** A real xen-api client for the simulator, polling events quickly. */
export function connectClient(simulator: RunningSimulator, options: Partial<XapiOptions> = {}): Xapi {
  const xapi = createClient({
    url: simulator.url,
    auth: { user: 'root', password: simulator.password },
    debounce: 10,
    eventPollDelay: 200,
    ...options,
  })
  clients.push(xapi)
  return xapi
}

export async function connectedClient(simulator: RunningSimulator, options: Partial<XapiOptions> = {}): Promise<Xapi> {
  const xapi = connectClient(simulator, options)
  await xapi.connect()
  await xapi.objectsFetched
  return xapi
}

export async function temporaryDirectory(prefix = 'xcp-sim-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  directories.push(dir)
  return dir
}

export async function stopAll(): Promise<void> {
  await Promise.all(clients.splice(0).map((xapi) => xapi.disconnect().catch(() => undefined)))
  // Ending the sessions answers the clients' pending event.from with SESSION_INVALID rather than a cut
  // connection, which the (disconnected) clients would report as warnings.
  for (const simulator of running) simulator.core.sessions.invalidateAll()
  await new Promise((resolve) => setTimeout(resolve, 50))
  await Promise.all(running.splice(0).map((simulator) => simulator.close()))
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
}

/** Records of one class in the client's cache. */
export function cached(xapi: Xapi, type: string): XapiRecord[] {
  return Object.values(xapi.objects.indexes.type[type] ?? {})
}

export function findByName(xapi: Xapi, type: string, name: string): XapiRecord {
  const record = cached(xapi, type).find((r) => r.name_label === name)
  if (record === undefined) throw new Error(`no ${type} named ${name} in the client's cache`)
  return record
}

/** Polls `check` until it returns true (events arrive asynchronously); fails after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Calls the simulator over raw JSON-RPC (to check the wire format, which the client hides). */
export async function rawJsonRpc(
  simulator: RunningSimulator,
  body: unknown,
): Promise<{ status: number; contentType: string | null; text: string }> {
  const response = await fetch(`${simulator.url}/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() }
}

export async function rawXmlRpc(
  simulator: RunningSimulator,
  path: string,
  xml: string,
): Promise<{ status: number; contentType: string | null; text: string }> {
  const response = await fetch(`${simulator.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml' },
    body: xml,
  })
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() }
}

/** Logs in over raw JSON-RPC and returns the session ref. */
export async function rawLogin(simulator: RunningSimulator): Promise<string> {
  const { text } = await rawJsonRpc(simulator, {
    jsonrpc: '2.0',
    id: 1,
    method: 'session.login_with_password',
    params: ['root', simulator.password],
  })
  return (JSON.parse(text) as { result: string }).result
}

/** One JSON-RPC v2 call; resolves to the result or rejects with `{code, params}`. */
export async function rawCall(simulator: RunningSimulator, method: string, params: unknown[]): Promise<unknown> {
  const { text } = await rawJsonRpc(simulator, { jsonrpc: '2.0', id: 7, method, params })
  const response = JSON.parse(text) as { result?: unknown; error?: { message: string; data: string[] } }
  if (response.error !== undefined)
    throw Object.assign(new Error(response.error.message), {
      code: response.error.message,
      params: response.error.data,
    })
  return response.result
}
