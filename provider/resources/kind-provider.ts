import type { CheckFailure } from '../policy/issues'
import { isUnknown } from '../policy/unknown'
import { type PolicyKind, policyKinds } from '../policy/validate'
import type { ProviderContext } from './context'
import type { PoolHandle } from './pools'
import { changedFields, type Props, stringField } from './props'

/** What each resource type implements; `entry.ts` adapts it to Pulumi's dynamic ResourceProvider. */
export interface KindProvider {
  check(ctx: ProviderContext, olds: Props, news: Props): Promise<CheckOutcome>
  diff(ctx: ProviderContext, id: string, olds: Props, news: Props): Promise<DiffOutcome>
  create(ctx: ProviderContext, news: Props): Promise<{ id: string; outs: Props }>
  /** `{}` when the object is gone (Pulumi then drops it from the state, and `up` creates it again). */
  read(ctx: ProviderContext, id: string, olds: Props): Promise<{ id?: string; props?: Props }>
  update(ctx: ProviderContext, id: string, olds: Props, news: Props): Promise<{ outs: Props }>
  delete(ctx: ProviderContext, id: string, olds: Props): Promise<void>
}

export interface CheckOutcome {
  inputs: Props
  failures: CheckFailure[]
}

export interface DiffOutcome {
  changes: boolean
  replaces: string[]
  deleteBeforeReplace: boolean
}

/** The fields a user writes: the schema's keys. Computed outputs and `__provider` are never compared. */
export function managedFields(kind: PolicyKind): string[] {
  return Object.keys(policyKinds[kind].schema.shape)
}

/**
 * Outputs every stored object has: which configured pool holds it, and that pool's uuid (so a pool renamed
 * in the configuration is still found).
 */
export interface PoolOutputs {
  poolName: string
  poolUuid: string
}

export function poolOutputs(pool: PoolHandle): PoolOutputs {
  return { poolName: pool.name, poolUuid: pool.uuid }
}

/**
 * Compares the managed fields of the old state (outputs, refreshed or stored) with the new inputs.
 * `identity` fields replace the resource. So does another pool, including when the `pool` argument is
 * absent and the configured default moved: the object lives in the pool. "Another pool" is another pool
 * uuid: renaming a pool in the configuration (or its `pool` argument with it) changes nothing, which is
 * also why `pool` is not compared as a field. A pool change deletes first, so an object never meets its
 * replacement under one key.
 */
export async function diffManaged(
  ctx: ProviderContext,
  olds: Props,
  news: Props,
  fields: readonly string[],
  identity: readonly string[],
): Promise<DiffOutcome> {
  const changed = changedFields(
    olds,
    news,
    fields.filter((field) => field !== 'pool'),
  )
  const replaces = changed.filter((field) => identity.includes(field))
  if (await poolMoved(ctx, olds, news)) replaces.push('pool')
  const changes = changed.length > 0 || replaces.length > 0
  return { changes, replaces, deleteBeforeReplace: replaces.includes('pool') }
}

async function poolMoved(ctx: ProviderContext, olds: Props, news: Props): Promise<boolean> {
  if (isUnknown(news.pool)) return true
  const before = stringField(olds, 'poolName')
  const uuid = stringField(olds, 'poolUuid')
  if (before === undefined || uuid === undefined) return false
  try {
    const name = ctx.sessions.nameFor(stringField(news, 'pool'))
    return name !== before && (await ctx.sessions.get(name)).uuid !== uuid
  } catch {
    // A pool that cannot be named or reached: check has already said why; plan the move.
    return true
  }
}

export type PoolResolution =
  | { state: 'unknown' }
  | { state: 'failed'; failure: CheckFailure }
  | { state: 'connected'; pool: PoolHandle }

/** The pool a resource being checked uses, connected; a failure names the `pool` field. */
export async function poolForCheck(ctx: ProviderContext, pool: unknown): Promise<PoolResolution> {
  if (isUnknown(pool)) return { state: 'unknown' }
  try {
    const name = ctx.sessions.nameFor(typeof pool === 'string' ? pool : undefined)
    return { state: 'connected', pool: await ctx.sessions.get(name) }
  } catch (error) {
    return {
      state: 'failed',
      failure: { property: 'pool', reason: error instanceof Error ? error.message : String(error) },
    }
  }
}
