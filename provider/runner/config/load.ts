import { readFile, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import type { CheckFailure } from '../../policy/issues'
import { checkWith } from '../../policy/validate'
import { type PoolConfigFile, type RunnerConfigFile, runnerConfigSchema } from './schema'
import { Secret } from './secret'

/** A pool as the runner uses it: the password read (from the file or inline) and hidden. */
export type PoolConfig = Omit<PoolConfigFile, 'password' | 'passwordFile'> & {
  password: Secret
  /** Where the password came from, for messages (never the password itself). */
  passwordSource: 'passwordFile' | 'password'
}

/** The configuration ready to use: paths absolute, passwords read, durations in ms. */
export type RunnerConfig = Omit<RunnerConfigFile, 'pools'> & {
  pools: PoolConfig[]
  /** The file it was read from. */
  file: string
}

export interface LoadedConfig {
  config: RunnerConfig
  /** Things that work but should be fixed (an inline password, a password file others can read). */
  warnings: string[]
}

export class RunnerConfigError extends Error {
  readonly code = 'INVALID_RUNNER_CONFIG'
  constructor(
    readonly file: string,
    readonly failures: readonly CheckFailure[],
  ) {
    super(
      `invalid runner configuration ${file}:\n${failures.map(({ property, reason }) => `  ${property === '' ? '(file)' : property}: ${reason}`).join('\n')}`,
    )
  }
}

/** Reads, validates and resolves the runner configuration file. Errors name each field; never a password. */
export async function loadRunnerConfig(file: string): Promise<LoadedConfig> {
  const path = resolve(file)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new RunnerConfigError(path, [{ property: '', reason: `cannot be read (${errorCode(error)})` }])
  }
  return resolveRunnerConfig(parseRunnerConfig(text, path), path)
}

/** Parses and validates the YAML text; `file` is only used in messages. */
export function parseRunnerConfig(text: string, file: string): RunnerConfigFile {
  const document = parseDocument(text)
  if (document.errors.length > 0) {
    // The YAML library quotes the lines around an error, which may hold a password: keep only where and what.
    throw new RunnerConfigError(
      file,
      document.errors.map((error) => {
        const at = error.linePos?.[0]
        const where = at === undefined ? '' : `line ${at.line}, column ${at.col}: `
        return { property: '', reason: `${where}not valid YAML (${error.code}: ${firstLine(error.message)})` }
      }),
    )
  }
  const result = checkWith(runnerConfigSchema, document.toJS() ?? {})
  if (!result.ok) throw new RunnerConfigError(file, result.failures)
  return result.value
}

/** Makes paths absolute (relative to the file's directory) and reads the password files. */
export async function resolveRunnerConfig(parsed: RunnerConfigFile, file: string): Promise<LoadedConfig> {
  const base = dirname(file)
  const warnings: string[] = []
  const failures: CheckFailure[] = []
  const pools: PoolConfig[] = []
  for (const [index, { password, passwordFile, ...pool }] of parsed.pools.entries()) {
    if (passwordFile === undefined) {
      warnings.push(
        `pools[${index}].password: the password is written in the configuration file; move it to a file readable only by the runner and set passwordFile`,
      )
      pools.push({ ...pool, password: new Secret(password!), passwordSource: 'password' })
      continue
    }
    const passwordPath = resolve(base, passwordFile)
    const read = await readPasswordFile(passwordPath)
    if (typeof read === 'string') {
      failures.push({ property: `pools[${index}].passwordFile`, reason: `${passwordPath} ${read}` })
      continue
    }
    if (read.othersCanRead) {
      warnings.push(
        `pools[${index}].passwordFile: ${passwordPath} can be read by other users: chmod 600 it (owned by the runner's user)`,
      )
    }
    pools.push({ ...pool, password: read.password, passwordSource: 'passwordFile' })
  }
  if (failures.length > 0) throw new RunnerConfigError(file, failures)
  const config: RunnerConfig = {
    ...parsed,
    pools,
    stateDir: resolve(base, parsed.stateDir),
    file,
  }
  return { config, warnings }
}

/** The password, or what is wrong with the file (never its content). */
async function readPasswordFile(path: string): Promise<{ password: Secret; othersCanRead: boolean } | string> {
  let content: string
  let mode: number
  try {
    content = await readFile(path, 'utf8')
    mode = (await stat(path)).mode
  } catch (error) {
    return `cannot be read (${errorCode(error)})`
  }
  const password = content.replace(/\r?\n$/, '')
  if (password === '') return 'is empty: write the password in it'
  if (/[\r\n]/.test(password)) return 'has more than one line: it must hold the password alone'
  return { password: new Secret(password), othersCanRead: (mode & 0o077) !== 0 }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error)
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
}

/**
 * Only the state directory of a configuration file, for commands that read the run log (`logs`,
 * `status`): they must work for users who cannot read the password files.
 */
export async function readStateDir(file: string): Promise<string> {
  const path = resolve(file)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new RunnerConfigError(path, [{ property: '', reason: `cannot be read (${errorCode(error)})` }])
  }
  return resolve(dirname(path), parseRunnerConfig(text, path).stateDir)
}
