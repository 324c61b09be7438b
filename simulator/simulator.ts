import { SimulatorControl } from './control/control-api'
import { registerControlEndpoints } from './control/http-control'
import { StorageControl } from './control/storage-control'
import { SimulatorCore } from './core'
import type { DatabaseSnapshot } from './db/database'
import type { Fixture } from './fixtures/fixture-schema'
import { demoFixturePath, loadFixtureFile } from './fixtures/load-fixture'
import { registerDiskHandlers } from './http/handlers'
import { listen } from './http/http-server'
import { HttpRouter } from './http/router'
import { registerRpcEndpoints } from './http/rpc-endpoints'
import type { SimulatorKnobsInput } from './integration/integration-knobs'
import { StorageIntegration } from './integration/storage-integration'
import { cleanUpAfterStart } from './lifecycle'
import { registerXapiMethods } from './methods'
import { registerStorageMethods } from './methods/storage'
import { StateStore } from './persistence/state-store'
import { buildPool } from './pool/pool-builder'
import { XapiError } from './rpc/errors'
import type { StorageManager } from './storage'

/** The password of `root` when none is given. For the simulator only: never a real host's. */
export const DEFAULT_SIMULATOR_PASSWORD = 'xcp-sim'

export interface SimulatorOptions {
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  readonly port?: number
  /** Address to listen on (default 127.0.0.1). */
  readonly host?: string
  /** Where the database is kept between runs; without it the pool lives in memory only. */
  readonly stateDir?: string
  /** The pool to start with when the state directory holds none: a parsed fixture or a YAML file path. Default: the demo pool. */
  readonly fixture?: Fixture | string
  /** Root's password (default {@link DEFAULT_SIMULATOR_PASSWORD}). */
  readonly password?: string
  /**
   * Timings of the storage manager and of VM snapshots (`SimulatorKnobsSchema`): a real host's by
   * default (a 5-minute GC quiet period, 300 ms per VM snapshot); tests shrink them. Changeable later
   * with `control.setKnobs`.
   */
  readonly knobs?: SimulatorKnobsInput
  /** Delay before answering a failed login (XAPI waits 5 s; default 0). */
  readonly authFailureDelayMs?: number
  /** How many deletions `event.from` remembers before older tokens get EVENTS_LOST (default 100000). */
  readonly maxTombstones?: number
  /** Debounce of state saves in ms (default 200). */
  readonly saveDebounceMs?: number
  /** Diagnostics (default: stderr). */
  readonly log?: (line: string) => void
}

export interface RunningSimulator {
  /** `http://127.0.0.1:PORT`: give it to the xen-api client with user root and the password. */
  readonly url: string
  readonly port: number
  readonly password: string
  /** Faults, probes, restart: the same operations as the HTTP control API. */
  readonly control: SimulatorControl
  /** Internals: method registry, HTTP router, database, the storage manager. */
  readonly core: SimulatorCore
  readonly router: HttpRouter
  readonly storage: StorageManager
  /** True when the pool was loaded from the state directory rather than built from the fixture. */
  readonly reusedState: boolean
  /** Stops serving, ends running operations, saves the state and releases the state directory. */
  close(): Promise<void>
}

/** Starts a simulated XCP-ng pool that the xen-api client can use as it would a real one. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const password = options.password ?? DEFAULT_SIMULATOR_PASSWORD
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const core = new SimulatorCore({
    password,
    authFailureDelayMs: options.authFailureDelayMs,
    maxTombstones: options.maxTombstones,
    log,
  })
  registerXapiMethods(core.methods)

  let store: StateStore | undefined
  let saved: DatabaseSnapshot | undefined
  if (options.stateDir !== undefined) {
    ;({ store, saved } = await StateStore.open(options.stateDir, () => core.db.snapshot(), {
      debounceMs: options.saveDebounceMs,
      onError: (error) => log(`could not save the pool in ${options.stateDir}: ${String(error)}`),
    }))
  }
  let integration: StorageIntegration | undefined
  try {
    if (saved !== undefined) core.db.restore(saved)
    integration = await StorageIntegration.open(core, { stateDir: options.stateDir, knobs: options.knobs })
    registerStorageMethods(core.methods, integration.link)
    if (saved !== undefined) {
      cleanUpAfterStart(core, new XapiError('INTERNAL_ERROR', ['xapi restarted']))
      await integration.reconcileAfterStart()
    } else {
      const fixture =
        typeof options.fixture === 'object'
          ? options.fixture
          : await loadFixtureFile(options.fixture ?? demoFixturePath)
      await buildPool(core, fixture, integration.provisioner)
      await store?.flush()
    }
  } catch (error) {
    await integration?.close().catch(() => undefined)
    await store?.releaseLock()
    throw error
  }
  const storage = integration
  const persistence = store
  if (persistence !== undefined) core.db.onChange(() => persistence.scheduleSave())

  const control = new SimulatorControl(
    core,
    async () => {
      await persistence?.flush()
    },
    new StorageControl(storage.link),
  )
  const router = new HttpRouter()
  registerRpcEndpoints(router, core)
  registerDiskHandlers(router, storage.link)
  registerControlEndpoints(router, core, control)

  let server: Awaited<ReturnType<typeof listen>>
  try {
    server = await listen(router, { host: options.host ?? '127.0.0.1', port: options.port ?? 0, log })
  } catch (error) {
    await storage.close()
    await store?.close()
    throw error
  }
  const host = server.host.includes(':') ? `[${server.host}]` : server.host
  let closing: Promise<void> | undefined
  return {
    url: `http://${host}:${server.port}`,
    port: server.port,
    password,
    control,
    core,
    router,
    storage: storage.link.storage,
    reusedState: saved !== undefined,
    close: () => {
      closing ??= (async () => {
        core.lifetime.abort(new XapiError('INTERNAL_ERROR', ['the simulator is shutting down']))
        core.faults.clear()
        await server.close()
        // Storage first: the database saved after it never names a VDI the storage lost.
        await storage.close()
        await persistence?.close()
      })()
      return closing
    },
  }
}
