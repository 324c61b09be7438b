import { type Remote, type StoredRemote, toStoredRemote } from '../policy/remote'
import { parseRemoteUrl } from '../policy/remote-url'
import { encodeStoredSpec } from '../policy/stored-spec'
import { checkPolicy, parsePolicy } from '../policy/validate'
import { createSecret, destroySecret, listOwnedSecrets, readSecret } from '../pool/secrets'
import { idForName } from '../pool/store-ids'
import { label, type ProviderContext } from './context'
import { checkNewName } from './identity'
import {
  type CheckOutcome,
  diffManaged,
  type KindProvider,
  managedFields,
  type PoolOutputs,
  poolForCheck,
  poolOutputs,
} from './kind-provider'
import type { PoolHandle } from './pools'
import { jsonClean, type Props, stringField } from './props'
import { readStored, resourceId, storeIdOf, storeNew, storeReplace, undo } from './stored-objects'

/**
 * Remote: the stored spec in `pool.other_config`, the credentials in a XAPI secret whose uuid the spec
 * holds (docs/policy-store.md). Rotating credentials creates the new secret, writes the spec that points
 * at it, then destroys the old one, so the runner always finds a spec whose secret exists.
 */

const KIND = 'Remote'
const FIELDS = managedFields(KIND)

export type RemoteOutputs = Remote &
  PoolOutputs & {
    /** file, nfs, smb or s3. */
    type: string
    /** uuid of the XAPI secret holding the credentials, when there are any. */
    credentialsSecret?: string
  }

function owner(id: string): string {
  return `remote:${id}`
}

export const remoteProvider: KindProvider = {
  async check(ctx, olds, news): Promise<CheckOutcome> {
    const result = checkPolicy(KIND, news, { unknowns: 'skip' })
    if (!result.ok) return { inputs: news, failures: result.failures }
    const spec = result.value as Props
    const resolution = await poolForCheck(ctx, spec.pool)
    if (resolution.state === 'failed') return { inputs: news, failures: [resolution.failure] }
    const failures = resolution.state === 'connected' ? await checkNewName(resolution.pool, KIND, olds, spec) : []
    return { inputs: jsonClean(spec), failures }
  },

  diff(ctx, _id, olds, news) {
    return diffManaged(ctx, olds, news, FIELDS, ['name'])
  },

  async create(ctx, news) {
    const spec = parsePolicy(KIND, news)
    const pool = await ctx.sessions.get(ctx.sessions.nameFor(spec.pool))
    const id = idForName(KIND, spec.name)
    const secret =
      spec.credentials === undefined
        ? undefined
        : await createSecret(pool.xapi, JSON.stringify(spec.credentials), owner(id))
    try {
      await storeNew(pool, KIND, id, encodeStoredSpec(KIND, toStoredRemote(spec, secret)), label(KIND, spec.name))
    } catch (error) {
      if (secret !== undefined) await undo(() => destroySecret(pool.xapi, secret), error)
      throw error
    }
    await collectStaleSecrets(ctx, pool, id, secret, spec.name)
    return { id: resourceId(KIND, id), outs: await liveOutputs(pool, id, secret) }
  },

  async read(ctx, id, olds) {
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const stored = await readStored(pool, KIND, storeIdOf(id))
    if (stored.state === 'missing') return {}
    if (stored.state === 'unreadable') {
      ctx.warn(label(KIND, stringField(olds, 'name')), `${stored.reason}; pulumi up will write it again`)
      return { id, props: { ...poolOutputs(pool) } }
    }
    return { id, props: await outputsOf(pool, stored.spec) }
  },

  async update(ctx, id, olds, news) {
    const spec = parsePolicy(KIND, news)
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    const stored = await readStored(pool, KIND, storeId)
    const previousText = stored.state === 'missing' ? undefined : stored.text
    const previousSecret = stored.state === 'present' ? stored.spec.credentialsSecret : undefined
    const keep = previousSecret !== undefined && (await sameCredentials(pool, previousSecret, spec))
    const secret = keep
      ? previousSecret
      : spec.credentials === undefined
        ? undefined
        : await createSecret(pool.xapi, JSON.stringify(spec.credentials), owner(storeId))
    try {
      await storeReplace(pool, KIND, storeId, encodeStoredSpec(KIND, toStoredRemote(spec, secret)), previousText)
    } catch (error) {
      if (secret !== undefined && secret !== previousSecret) await undo(() => destroySecret(pool.xapi, secret), error)
      throw error
    }
    // Only now that no spec points at it can the old secret go.
    if (previousSecret !== undefined && previousSecret !== secret) await destroySecret(pool.xapi, previousSecret)
    await collectStaleSecrets(ctx, pool, storeId, secret, spec.name)
    return { outs: await liveOutputs(pool, storeId, secret) }
  },

  async delete(ctx, id, olds) {
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    const stored = await readStored(pool, KIND, storeId)
    // The spec first: a spec must never point at a destroyed secret.
    await pool.store.remove(KIND, storeId)
    const secrets = new Set<string>()
    if (stored.state === 'present' && stored.spec.credentialsSecret !== undefined)
      secrets.add(stored.spec.credentialsSecret)
    const fromState = stringField(olds, 'credentialsSecret')
    if (fromState !== undefined) secrets.add(fromState)
    for (const secret of secrets) await destroySecret(pool.xapi, secret)
    await collectStaleSecrets(ctx, pool, storeId, undefined, stringField(olds, 'name'))
  },
}

async function liveOutputs(pool: PoolHandle, id: string, secret: string | undefined): Promise<Props> {
  const stored = await readStored(pool, KIND, id)
  if (stored.state !== 'present')
    throw new Error(`${label(KIND, id)} was not found in pool ${pool.name} right after being written`)
  if (stored.spec.credentialsSecret !== secret)
    throw new Error(`${label(KIND, id)} changed while being written: run pulumi up again`)
  return outputsOf(pool, stored.spec)
}

/** The same shape whether just written or read back: the spec, the credentials from their secret, where. */
async function outputsOf(pool: PoolHandle, stored: StoredRemote): Promise<Props> {
  const { credentialsSecret, ...spec } = stored
  const credentials = credentialsSecret === undefined ? undefined : await credentialsIn(pool, credentialsSecret)
  const outputs: RemoteOutputs = {
    ...spec,
    ...(credentials === undefined ? {} : { credentials }),
    ...(credentialsSecret === undefined ? {} : { credentialsSecret }),
    type: parseRemoteUrl(spec.url).type,
    ...poolOutputs(pool),
  }
  return jsonClean(outputs as unknown as Props)
}

/** The credentials a secret holds; undefined when it is gone or unreadable (shown as drift, repaired by up). */
async function credentialsIn(pool: PoolHandle, uuid: string): Promise<Remote['credentials'] | undefined> {
  try {
    const value = JSON.parse(await readSecret(pool.xapi, uuid)) as unknown
    return value !== null && typeof value === 'object' ? (value as Remote['credentials']) : undefined
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code === 'UUID_INVALID' || code === 'HANDLE_INVALID' || error instanceof SyntaxError) return undefined
    throw error
  }
}

async function sameCredentials(pool: PoolHandle, secret: string, spec: Remote): Promise<boolean> {
  if (spec.credentials === undefined) return false
  const current = await credentialsIn(pool, secret)
  return current !== undefined && JSON.stringify(sortKeys(current)) === JSON.stringify(sortKeys(spec.credentials))
}

function sortKeys(value: object): object {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
}

/** Secrets of this remote left by an interrupted operation (owned by it, referenced by nothing). */
async function collectStaleSecrets(
  ctx: ProviderContext,
  pool: PoolHandle,
  id: string,
  current: string | undefined,
  name: string | undefined,
) {
  for (const secret of await listOwnedSecrets(pool.xapi)) {
    if (secret.owner !== owner(id) || secret.uuid === current) continue
    await destroySecret(pool.xapi, secret.uuid)
    ctx.info(label(KIND, name ?? id), `destroyed secret ${secret.uuid}, left behind by an interrupted change`)
  }
}
