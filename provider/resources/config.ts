import { z } from 'zod'
import { listOf } from '../policy/suggest'
import type { PoolEndpoint } from '../pool/connection'

/**
 * Which pools the providers reach, and how: from the stack config the dynamic provider's `configure`
 * receives (the whole stack config, secrets decrypted, structured values as JSON strings), else from
 * environment variables for a single pool. Never from resource inputs, so credentials never reach state.
 *
 * ```yaml
 * config:
 *   xcp-backup:pools:
 *     main:   { url: https://xcp-a.lan, user: root, default: true, password: { secure: ... } }
 *     dr:     { url: https://xcp-b.lan, user: backup, password: { secure: ... } }
 * ```
 *
 * See docs/pulumi.md "Configuration".
 */

export const CONFIG_NAMESPACE = 'xcp-backup'
export const POOLS_KEY = `${CONFIG_NAMESPACE}:pools`
export const ENV = { url: 'XCP_BACKUP_URL', user: 'XCP_BACKUP_USER', password: 'XCP_BACKUP_PASSWORD' } as const
/** The name the pool from environment variables goes by. */
export const ENV_POOL_NAME = 'default'

const POOL_NAME = /^[A-Za-z0-9._-]{1,64}$/

const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]).default(false)

const poolConfigSchema = z.strictObject({
  url: z.string().min(1),
  user: z.string().min(1).default('root'),
  password: z.string().min(1),
  default: flag,
  allowUnauthorized: flag,
})

export interface ProviderConfig {
  pools: ReadonlyMap<string, PoolEndpoint>
  /** The pool resources without a `pool` argument use, when there is one. */
  defaultPool: string | undefined
  source: 'stack config' | 'environment'
}

export class ProviderConfigError extends Error {
  readonly code = 'PROVIDER_CONFIG'
}

/** Reads `xcp-backup:pools`, else the environment. Errors name the config key and how to set it. */
export function readProviderConfig(
  get: (key: string) => string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ProviderConfig {
  const text = get(POOLS_KEY)
  if (text !== undefined) return fromStackConfig(text)
  if (env[ENV.url] !== undefined && env[ENV.url] !== '') return fromEnvironment(env)
  throw new ProviderConfigError(
    `no pool is configured: set ${POOLS_KEY} in the stack config (pulumi config set --path '${POOLS_KEY}.main.url' https://pool-master; ` +
      `pulumi config set --secret --path '${POOLS_KEY}.main.password' ...), or ${ENV.url}, ${ENV.user} and ${ENV.password} in the environment`,
  )
}

function fromStackConfig(text: string): ProviderConfig {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new ProviderConfigError(`${POOLS_KEY} must be an object of pools ({<name>: {url, user, password}})`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    throw new ProviderConfigError(
      `${POOLS_KEY} must be an object with at least one pool ({<name>: {url, user, password}})`,
    )
  }
  const problems: string[] = []
  const pools = new Map<string, PoolEndpoint>()
  const defaults: string[] = []
  for (const [name, value] of Object.entries(parsed)) {
    if (!POOL_NAME.test(name)) {
      problems.push(`${POOLS_KEY}.${name}: a pool name is 1 to 64 letters, digits, ".", "_" or "-"`)
      continue
    }
    const result = poolConfigSchema.safeParse(value)
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(describeIssue(name, issue))
      continue
    }
    const { url, user, password, allowUnauthorized } = result.data
    pools.set(name, { name, url, user, password, allowUnauthorized })
    if (result.data.default) defaults.push(name)
  }
  if (defaults.length > 1) {
    problems.push(`${POOLS_KEY}: ${listOf(defaults, 'and')} are all marked default: keep default: true on one`)
  }
  if (problems.length > 0) throw new ProviderConfigError(problems.join('; '))
  const defaultPool = defaults[0] ?? (pools.size === 1 ? [...pools.keys()][0] : undefined)
  return { pools, defaultPool, source: 'stack config' }
}

/** Never quotes a value: a mistyped key could be holding the password. */
function describeIssue(pool: string, issue: z.core.$ZodIssue): string {
  const path = [pool, ...issue.path.map(String)].join('.')
  const where = `${POOLS_KEY}.${path}`
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map(
        (key) =>
          `${POOLS_KEY}.${pool}.${key}: unknown setting (expected url, user, password, default, allowUnauthorized)`,
      )
      .join('; ')
  }
  const field = issue.path[0]
  if (field === 'password') {
    return `${where}: is required: pulumi config set --secret --path '${where}' <password>`
  }
  if (field === 'url') return `${where}: is required: the pool master's URL, e.g. https://xcp-master.lan`
  if (field === 'default' || field === 'allowUnauthorized') return `${where}: must be true or false`
  return `${where}: must be a non-empty string`
}

function fromEnvironment(env: NodeJS.ProcessEnv): ProviderConfig {
  const password = env[ENV.password]
  if (password === undefined || password === '') {
    throw new ProviderConfigError(
      `${ENV.url} is set but ${ENV.password} is not: set both (and ${ENV.user}, default root)`,
    )
  }
  const endpoint: PoolEndpoint = {
    name: ENV_POOL_NAME,
    url: env[ENV.url]!,
    user: env[ENV.user] || 'root',
    password,
  }
  return { pools: new Map([[ENV_POOL_NAME, endpoint]]), defaultPool: ENV_POOL_NAME, source: 'environment' }
}

/** Every password the configuration holds, to scrub from anything shown. */
export function configSecrets(config: ProviderConfig): string[] {
  return [...config.pools.values()].map((pool) => pool.password)
}
