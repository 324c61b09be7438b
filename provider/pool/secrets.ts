import type { Xapi } from 'xen-api'

/**
 * Remote credentials live in XAPI `secret` objects, referenced by uuid from the stored spec: never in
 * `other_config`, never in Pulumi state in plain text. Each secret is marked with its owner so orphans
 * (left by a crash between two steps) can be found and removed.
 */
export const OWNER_KEY = 'xcp-backup:owner'

export interface OwnedSecret {
  uuid: string
  owner: string
}

export async function createSecret(xapi: Xapi, value: string, owner: string): Promise<string> {
  return withoutCallParams(async () => {
    const ref = await xapi.call<string>('secret.create', { value, other_config: { [OWNER_KEY]: owner } })
    return xapi.call<string>('secret.get_uuid', ref)
  })
}

export async function readSecret(xapi: Xapi, uuid: string): Promise<string> {
  return withoutCallParams(async () => {
    const ref = await xapi.call<string>('secret.get_by_uuid', uuid)
    return xapi.call<string>('secret.get_value', ref)
  })
}

/** Destroys a secret; an absent one is fine (the goal is that it does not exist). */
export async function destroySecret(xapi: Xapi, uuid: string): Promise<void> {
  try {
    const ref = await xapi.call<string>('secret.get_by_uuid', uuid)
    await xapi.call('secret.destroy', ref)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code !== 'UUID_INVALID' && code !== 'HANDLE_INVALID') throw stripCall(error)
  }
}

/** Secrets this tool created, with their owner ("remote:<id>"). */
export async function listOwnedSecrets(xapi: Xapi): Promise<OwnedSecret[]> {
  const records =
    await xapi.call<Record<string, { uuid: string; other_config: Record<string, string> }>>('secret.get_all_records')
  return Object.values(records)
    .filter((record) => record.other_config[OWNER_KEY] !== undefined)
    .map((record) => ({ uuid: record.uuid, owner: record.other_config[OWNER_KEY]! }))
}

/** The xen-api client attaches the call's parameters to errors; for secrets those hold the value. */
async function withoutCallParams<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    throw stripCall(error)
  }
}

function stripCall(error: unknown): unknown {
  if (error !== null && typeof error === 'object' && 'call' in error) {
    delete (error as { call?: unknown }).call
  }
  return error
}
