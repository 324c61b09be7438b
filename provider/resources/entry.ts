import { backupJobProvider } from './backup-job'
import { configSecrets, type ProviderConfig, ProviderConfigError, readProviderConfig } from './config'
import { messageSink, type ProviderContext } from './context'
import type { KindProvider } from './kind-provider'
import { PoolSessions } from './pools'
import { type Props, withoutProvider } from './props'
import { remoteProvider } from './remote'
import { replicationTargetProvider } from './replication-target'
import { vmBackupTagsProvider } from './vm-backup-tags'

/**
 * The entry point the serialized providers call: `dist/provider/resources/entry.js`, `configure` and
 * `dispatch`. **Its path and these two signatures are a compatibility contract**: Pulumi keeps the
 * serialized shim (sdk/provider-shim.ts) in every stack's state and replays it for refresh and delete, so
 * every later version of this package must keep them.
 *
 * Everything else is per process: the provider process lives for one Pulumi command, so the configuration
 * and pool connections held here never outlive it.
 */

export const KINDS = ['Remote', 'BackupJob', 'ReplicationTarget', 'VmBackupTags'] as const
export type ResourceKind = (typeof KINDS)[number]
export type ProviderMethod = 'check' | 'diff' | 'create' | 'read' | 'update' | 'delete'

const providers: Readonly<Record<ResourceKind, KindProvider>> = {
  Remote: remoteProvider,
  BackupJob: backupJobProvider,
  ReplicationTarget: replicationTargetProvider,
  VmBackupTags: vmBackupTagsProvider,
}

/** What `configure` receives: Pulumi's dynamic-provider Config (values are strings; structured ones JSON). */
export interface ConfigSource {
  get(key: string): string | undefined
}

interface ProcessState {
  config?: ProviderConfig
  configError?: Error
  sessions?: PoolSessions
}

const state: ProcessState = {}
const sink = messageSink((line) => process.stderr.write(`${redact(line, knownSecrets())}\n`))

/** Called once per process per resource type, always with the same stack config. */
export function configure(source: ConfigSource): void {
  if (state.config !== undefined) return
  load(() => readProviderConfig((key) => source.get(key)))
}

export async function dispatch(kind: ResourceKind, method: ProviderMethod, args: unknown[]): Promise<unknown> {
  const provider = providers[kind]
  if (provider === undefined) throw new Error(`unknown resource type ${JSON.stringify(kind)}`)
  const secrets = [...knownSecrets(), ...argumentSecrets(args)]
  try {
    return await run(provider, method, args)
  } catch (error) {
    throw sanitize(error, secrets)
  }
}

async function run(provider: KindProvider, method: ProviderMethod, args: unknown[]): Promise<unknown> {
  if (state.config === undefined && state.configError === undefined) {
    // Not configured (an engine that never calls Configure): the environment is all there is.
    load(() => readProviderConfig(() => undefined))
  }
  if (state.configError !== undefined) {
    if (method === 'check') {
      const news = withoutProvider(args[1] as Props)
      return {
        inputs: news,
        failures: [{ property: 'pool', reason: `provider configuration: ${state.configError.message}` }],
      }
    }
    if (method === 'diff') return provider.diff(context(), String(args[0]), props(args[1]), props(args[2]))
    throw state.configError
  }
  const ctx = context()
  switch (method) {
    case 'check':
      return provider.check(ctx, props(args[0]), props(args[1]))
    case 'diff':
      return provider.diff(ctx, String(args[0]), props(args[1]), props(args[2]))
    case 'create':
      return provider.create(ctx, props(args[0]))
    case 'read':
      return provider.read(ctx, String(args[0]), props(args[1]))
    case 'update':
      return provider.update(ctx, String(args[0]), props(args[1]), props(args[2]))
    case 'delete':
      return provider.delete(ctx, String(args[0]), props(args[1]))
  }
}

function load(read: () => ProviderConfig): void {
  try {
    state.config = read()
    state.sessions = new PoolSessions(state.config)
  } catch (error) {
    state.configError = error instanceof ProviderConfigError ? error : new ProviderConfigError(String(error))
  }
}

function context(): ProviderContext {
  const sessions =
    state.sessions ?? new PoolSessions({ pools: new Map(), defaultPool: undefined, source: 'environment' })
  return { sessions, ...sink }
}

function props(value: unknown): Props {
  return withoutProvider(value !== null && typeof value === 'object' ? (value as Props) : {})
}

function knownSecrets(): string[] {
  return state.config === undefined ? [] : configSecrets(state.config)
}

/** Credential values in the arguments (Remote credentials), kept out of anything shown. */
function argumentSecrets(args: unknown[]): string[] {
  const found: string[] = []
  for (const arg of args) {
    const credentials = (arg as { credentials?: unknown } | null)?.credentials
    if (credentials !== null && typeof credentials === 'object') {
      for (const value of Object.values(credentials)) if (typeof value === 'string' && value !== '') found.push(value)
    }
  }
  return found
}

export function redact(text: string, secrets: readonly string[]): string {
  let result = text
  for (const secret of secrets) if (secret.length >= 3) result = result.replaceAll(secret, '***')
  return result
}

/**
 * The error Pulumi shows (and the provider process prints with its stack): its message and code only,
 * secrets masked. Client errors carry the call's parameters in properties; none of those survive.
 */
function sanitize(error: unknown, secrets: readonly string[]): Error {
  const message = error instanceof Error ? error.message : String(error)
  const clean = new Error(redact(message, secrets))
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') Object.assign(clean, { code })
  return clean
}
