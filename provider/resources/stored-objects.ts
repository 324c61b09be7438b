import { decodeStoredSpec, type StoredSpec, StoredSpecError } from '../policy/stored-spec'
import type { PolicyKind } from '../policy/validate'
import { storeKey } from '../pool/policy-store'
import type { PoolHandle } from './pools'

/**
 * Writing and reading policy objects in the pool store so that a failed step leaves the store as it was:
 * a write that fails is undone (the previous value put back, or the new key removed) before the error is
 * reported. The Pulumi id of a stored object is its `pool.other_config` key.
 */

export function resourceId(kind: PolicyKind, id: string): string {
  return storeKey(kind, id)
}

/** The store id inside a Pulumi id (`xcp-backup:<kind>:<id>`). */
export function storeIdOf(resourceId: string): string {
  const id = resourceId.slice(resourceId.lastIndexOf(':') + 1)
  if (id === '') throw new Error(`resource id ${JSON.stringify(resourceId)} is not a policy store key`)
  return id
}

export type StoredState<K extends PolicyKind> =
  | { state: 'present'; spec: StoredSpec<K>; text: string }
  | { state: 'missing' }
  /** Something is stored under the key but it is not a valid spec (edited by hand, truncated). */
  | { state: 'unreadable'; reason: string; text: string }

/**
 * The stored spec. A spec written by a newer xcp-backup is an error (never overwritten by older code);
 * anything else unreadable is reported as such, so the provider can show it as drift and rewrite it.
 */
export async function readStored<K extends PolicyKind>(pool: PoolHandle, kind: K, id: string): Promise<StoredState<K>> {
  const text = await pool.store.get(kind, id)
  if (text === undefined) return { state: 'missing' }
  try {
    return { state: 'present', spec: decodeStoredSpec(text, { kind }).spec, text }
  } catch (error) {
    if (error instanceof StoredSpecError && error.code !== 'STORED_SPEC_NEWER') {
      return { state: 'unreadable', reason: error.message, text }
    }
    throw error
  }
}

export class AlreadyStoredError extends Error {
  readonly code = 'ALREADY_STORED'
}

/** Stores a new object; refuses to take over one already there. Undone if the write fails half-way. */
export async function storeNew(
  pool: PoolHandle,
  kind: PolicyKind,
  id: string,
  text: string,
  what: string,
): Promise<void> {
  if ((await pool.store.get(kind, id)) !== undefined) {
    throw new AlreadyStoredError(
      `${what} already exists in pool ${JSON.stringify(pool.name)} (key ${storeKey(kind, id)}), not created by this stack: ` +
        `choose another name, or remove it with \`xe pool-param-remove uuid=${pool.uuid} param-name=other-config param-key=${storeKey(kind, id)}\``,
    )
  }
  try {
    await pool.store.put(kind, id, text)
  } catch (error) {
    await undo(() => pool.store.remove(kind, id), error)
    throw error
  }
}

/** Replaces a stored object; on failure the previous text is put back (or the key removed if there was none). */
export async function storeReplace(
  pool: PoolHandle,
  kind: PolicyKind,
  id: string,
  text: string,
  previous: string | undefined,
): Promise<void> {
  try {
    await pool.store.put(kind, id, text)
  } catch (error) {
    await undo(() => (previous === undefined ? pool.store.remove(kind, id) : pool.store.put(kind, id, previous)), error)
    throw error
  }
}

/**
 * Runs a compensation after a failure. If it fails too, the original error says so (both causes matter:
 * the first is why, the second is what is left to clean up).
 */
export async function undo(step: () => Promise<unknown>, error: unknown): Promise<void> {
  try {
    await step()
  } catch (undoError) {
    if (error instanceof Error) {
      error.message += `; undoing the change also failed (${undoError instanceof Error ? undoError.message : String(undoError)}), so the pool may hold part of it: run pulumi up --refresh to repair`
    }
  }
}
