import { Database } from './db/database'
import { ChangeNotifier } from './events/change-notifier'
import { FaultRegistry } from './faults/fault-registry'
import { OperationProbe } from './faults/operation-probe'
import { type DeviceHooks, noDeviceHooks } from './integration/device-hooks'
import { findClass, findClassByLowerName } from './model/classes'
import type { XapiType } from './model/types'
import { MethodRegistry } from './rpc/method'
import { SessionStore } from './session/session-store'
import { TaskManager } from './tasks/task-manager'

export interface CoreOptions {
  /** The password of `root`. */
  readonly password: string
  /** XAPI waits 5 s before answering a failed login; the simulator waits this long (default 0). */
  readonly authFailureDelayMs?: number
  /** How many deletions `event.from` remembers; older tokens get EVENTS_LOST. */
  readonly maxTombstones?: number
  /** Where diagnostics go (internal errors); defaults to stderr. */
  readonly log?: (line: string) => void
}

/** Switches that change how the simulated pool answers, set through the control API. */
export interface SimulatorModes {
  /** When set, logins addressed to any other host name fail with HOST_IS_SLAVE [masterAddress]. */
  hostIsSlave: { readonly masterAddress: string } | undefined
}

/**
 * The state and services every part of the simulator shares: the database, sessions, tasks, event
 * wake-ups, faults, the operation probe and the method registry.
 */
export class SimulatorCore {
  readonly db: Database
  readonly sessions = new SessionStore()
  readonly tasks: TaskManager
  readonly notifier: ChangeNotifier
  readonly faults = new FaultRegistry()
  readonly probe = new OperationProbe()
  readonly methods = new MethodRegistry()
  readonly modes: SimulatorModes = { hostIsSlave: undefined }
  /** What the storage manager does when VBDs attach and detach (set by the storage integration). */
  devices: DeviceHooks = noDeviceHooks
  readonly password: string
  readonly authFailureDelayMs: number
  readonly log: (line: string) => void
  /** Aborted, then replaced, by a simulated XAPI restart: every running operation stops. */
  lifetime = new AbortController()

  constructor(options: CoreOptions) {
    this.db = new Database({ maxTombstones: options.maxTombstones })
    this.tasks = new TaskManager(this.db, () => this.masterRef())
    this.notifier = new ChangeNotifier(this.db)
    this.password = options.password
    this.authFailureDelayMs = options.authFailureDelayMs ?? 0
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
  }

  /** Field types of a class's records (by name or lowercase name), for the XML-RPC encoder. */
  readonly recordTypes = (cls: string): Readonly<Record<string, XapiType>> => {
    const schema = findClass(cls) ?? findClassByLowerName(cls)
    if (schema === undefined) throw new Error(`the simulator has no class ${cls}`)
    return schema.recordTypes
  }

  /** The pool object (there is exactly one). */
  poolRef(): string {
    const [ref] = this.db.refs('pool')
    if (ref === undefined) throw new Error('the simulated pool has no pool object')
    return ref
  }

  /** The pool master. */
  masterRef(): string {
    return this.db.field<string>('pool', this.poolRef(), 'master')
  }
}
