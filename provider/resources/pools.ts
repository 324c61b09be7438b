import type { Xapi } from 'xen-api'
import { closest, listOf } from '../policy/suggest'
import { connectPool } from '../pool/connection'
import { PolicyStore } from '../pool/policy-store'
import type { ProviderConfig } from './config'

/** A connected configured pool. */
export interface PoolHandle {
  /** The name it has in the provider configuration. */
  name: string
  uuid: string
  xapi: Xapi
  store: PolicyStore
}

export class UnknownPoolError extends Error {
  readonly code = 'UNKNOWN_POOL'
}

/**
 * One connection per configured pool per provider process, opened on first use. The process is the
 * dynamic provider's, started for one Pulumi command and stopped after it: nothing outlives the command.
 */
export class PoolSessions {
  readonly #connections = new Map<string, Promise<PoolHandle>>()

  constructor(readonly config: ProviderConfig) {}

  /** The configured pool a resource uses: its `pool` argument, else the default. Throws naming the choices. */
  nameFor(pool: string | undefined): string {
    const names = [...this.config.pools.keys()]
    if (pool === undefined) {
      if (this.config.defaultPool !== undefined) return this.config.defaultPool
      throw new UnknownPoolError(
        `${names.length} pools are configured (${listOf(names, 'and')}) and none is the default: set pool to one of them, or mark one default: true`,
      )
    }
    if (this.config.pools.has(pool)) return pool
    const suggestion = closest(pool, names)
    throw new UnknownPoolError(
      `no pool ${JSON.stringify(pool)} is configured${suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`}: ` +
        `configured pools are ${listOf(names, 'and')} (${this.config.source})`,
    )
  }

  get(name: string): Promise<PoolHandle> {
    let connection = this.#connections.get(name)
    if (connection === undefined) {
      connection = this.#connect(name)
      // A failed attempt is not cached: the next call tries again.
      connection.catch(() => this.#connections.delete(name))
      this.#connections.set(name, connection)
    }
    return connection
  }

  /**
   * The pool that holds an object created earlier: the configured pool of that name if it is still the
   * same pool (same uuid), else whichever configured pool has that uuid (the pool was renamed in config).
   */
  async holding(name: string | undefined, uuid: string | undefined): Promise<PoolHandle> {
    if (name !== undefined && this.config.pools.has(name)) {
      const handle = await this.get(name)
      if (uuid === undefined || handle.uuid === uuid) return handle
    }
    if (uuid !== undefined) {
      for (const other of this.config.pools.keys()) {
        if (other === name) continue
        const handle = await this.get(other)
        if (handle.uuid === uuid) return handle
      }
    }
    throw new UnknownPoolError(
      `the pool that holds this object (${name === undefined ? '' : `configured as ${JSON.stringify(name)}, `}uuid ${uuid ?? 'unknown'}) ` +
        `is not among the configured pools (${listOf([...this.config.pools.keys()], 'and')}): configure it again, ` +
        'or drop the resource from the state with `pulumi state delete <urn>`',
    )
  }

  async closeAll(): Promise<void> {
    const connections = [...this.#connections.values()]
    this.#connections.clear()
    await Promise.all(connections.map((c) => c.then((h) => h.xapi.disconnect()).catch(() => undefined)))
  }

  async #connect(name: string): Promise<PoolHandle> {
    const endpoint = this.config.pools.get(name)
    if (endpoint === undefined) throw new UnknownPoolError(`no pool ${JSON.stringify(name)} is configured`)
    // Fresh reads through calls, not the event-fed cache: a provider reads what it just wrote.
    const xapi = await connectPool(endpoint, { watchEvents: false })
    const refs = await xapi.call<string[]>('pool.get_all')
    const uuid = await xapi.call<string>('pool.get_uuid', refs[0])
    return { name, uuid, xapi, store: new PolicyStore(xapi) }
  }
}
