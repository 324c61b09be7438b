import { SimulatorControl } from './control/control-api'
import { registerControlEndpoints } from './control/http-control'
import { SimulatorCore } from './core'
import type { DatabaseSnapshot } from './db/database'
import type { Fixture } from './fixtures/fixture-schema'
import { demoFixturePath, loadFixtureFile } from './fixtures/load-fixture'
import { listen } from './http/http-server'
import { HttpRouter } from './http/router'
import { registerRpcEndpoints } from './http/rpc-endpoints'
import { type DiskProvisioner, metadataOnlyDiskProvisioner } from './integration/disk-provisioner'
import { cleanUpAfterStart } from './lifecycle'
import { registerXapiMethods } from './methods'
import { StateStore } from './persistence/state-store'
import { buildPool } from './pool/pool-builder'
import { XapiError } from './rpc/errors'

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
  /** Creates the VDIs of fixture disks; the storage integration passes the storage engine's. */
  readonly diskProvisioner?: DiskProvisioner
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
  /** Internals, for the storage integration (method registry, HTTP router, database). */
  readonly core: SimulatorCore
  readonly router: HttpRouter
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
  try {
    if (saved !== undefined) {
      core.db.restore(saved)
      cleanUpAfterStart(core, new XapiError('INTERNAL_ERROR', ['xapi restarted']))
    } else {
      const fixture =
        typeof options.fixture === 'object'
          ? options.fixture
          : await loadFixtureFile(options.fixture ?? demoFixturePath)
      await buildPool(core, fixture, options.diskProvisioner ?? metadataOnlyDiskProvisioner)
      await store?.flush()
    }
  } catch (error) {
    await store?.releaseLock()
    throw error
  }
  const persistence = store
  if (persistence !== undefined) core.db.onChange(() => persistence.scheduleSave())

  const control = new SimulatorControl(core, async () => {
    await persistence?.flush()
  })
  const router = new HttpRouter()
  registerRpcEndpoints(router, core)
  registerControlEndpoints(router, core, control)

  let server: Awaited<ReturnType<typeof listen>>
  try {
    server = await listen(router, { host: options.host ?? '127.0.0.1', port: options.port ?? 0, log })
  } catch (error) {
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
    reusedState: saved !== undefined,
    close: () => {
      closing ??= (async () => {
        core.lifetime.abort(new XapiError('INTERNAL_ERROR', ['the simulator is shutting down']))
        core.faults.clear()
        await server.close()
        await persistence?.close()
      })()
      return closing
    },
  }
}
