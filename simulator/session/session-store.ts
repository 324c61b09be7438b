import { newRef, newUuid, xapiNow } from '../model/values'
import { sessionInvalid } from '../rpc/errors'

export interface Session {
  readonly ref: string
  readonly uuid: string
  readonly user: string
  readonly thisHost: string
  readonly originator: string
  readonly createdAt: string
  lastActive: string
  /** Aborted when the session ends, which wakes the `event.from` calls waiting on it. */
  readonly ended: AbortController
}

/**
 * Logged-in sessions. Like XAPI's session table they are not persisted: a restarted simulator has
 * none, and clients log in again after SESSION_INVALID.
 */
export class SessionStore {
  readonly #sessions = new Map<string, Session>()

  create(user: string, thisHost: string, originator: string): Session {
    const now = xapiNow()
    const session: Session = {
      ref: newRef(),
      uuid: newUuid(),
      user,
      thisHost,
      originator,
      createdAt: now,
      lastActive: now,
      ended: new AbortController(),
    }
    this.#sessions.set(session.ref, session)
    return session
  }

  find(ref: string): Session | undefined {
    return this.#sessions.get(ref)
  }

  /** The live session `ref`, refreshed; SESSION_INVALID [ref] when there is none. */
  require(ref: unknown): Session {
    const session = typeof ref === 'string' ? this.#sessions.get(ref) : undefined
    if (session === undefined) throw sessionInvalid(typeof ref === 'string' ? ref : String(ref))
    session.lastActive = xapiNow()
    return session
  }

  /** Ends a session: later calls with it fail with SESSION_INVALID, and so do its waiting calls. */
  invalidate(ref: string): boolean {
    const session = this.#sessions.get(ref)
    if (session === undefined) return false
    this.#sessions.delete(ref)
    session.ended.abort(sessionInvalid(ref))
    return true
  }

  invalidateAll(): number {
    const refs = [...this.#sessions.keys()]
    for (const ref of refs) this.invalidate(ref)
    return refs.length
  }

  get count(): number {
    return this.#sessions.size
  }

  all(): Session[] {
    return [...this.#sessions.values()]
  }
}
