import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { packageRoot } from '../../../provider/common/package-info'
import { loadRunnerConfig, RunnerConfigError, runnerConfigSchema } from '../../../provider/runner/config'
import { useStateDirs } from './helpers/state-dir'

const newDir = useStateDirs()
const PASSWORD = 's3cret-Pool-Passw0rd'

function write(dir: string, name: string, text: string, mode = 0o600): string {
  const path = join(dir, name)
  writeFileSync(path, text, { mode })
  chmodSync(path, mode)
  return path
}

async function failureOf(file: string): Promise<RunnerConfigError> {
  try {
    await loadRunnerConfig(file)
  } catch (error) {
    if (error instanceof RunnerConfigError) return error
    throw error
  }
  throw new Error('expected the configuration to be refused')
}

describe('runner configuration', () => {
  it('reads pools, the password file, paths relative to the file, durations and defaults', async () => {
    const dir = newDir()
    write(dir, 'pool.password', `${PASSWORD}\n`)
    const file = write(
      dir,
      'runner.yaml',
      [
        'pools:',
        '  - name: main',
        '    url: https://pool-master.lan',
        '    user: root',
        '    passwordFile: pool.password',
        '    allowUnauthorized: true',
        'stateDir: state',
        'remotes:',
        '  nas:',
        '    mountPoint: /mnt/nas',
        'shutdownGrace: 30m',
        '',
      ].join('\n'),
    )
    const { config, warnings } = await loadRunnerConfig(file)
    expect(warnings).toEqual([])
    expect(config.stateDir).toBe(join(dir, 'state'))
    expect(config.pools[0]).toMatchObject({
      name: 'main',
      url: 'https://pool-master.lan',
      user: 'root',
      allowUnauthorized: true,
      passwordSource: 'passwordFile',
    })
    expect(config.pools[0]!.password.reveal()).toBe(PASSWORD)
    expect(config.remotes).toEqual({ nas: { mountPoint: '/mnt/nas' } })
    expect(config.httpInactivityTimeout).toBe(5 * 60_000)
    expect(config.shutdownGrace).toBe(30 * 60_000)
    expect(config.runLog.keepRuns).toBe(100)
    // However the configuration is printed or logged, the password does not show.
    for (const shown of [
      JSON.stringify(config),
      inspect(config, { depth: 10 }),
      String(config.pools[0]!.password),
      `${config.pools[0]!.password}`,
    ]) {
      expect(shown).not.toContain(PASSWORD)
    }
  })

  it('accepts an inline password with a warning, and warns about a password file others can read', async () => {
    const dir = newDir()
    const inline = write(
      dir,
      'inline.yaml',
      `pools: [{name: a, url: "https://a", user: root, password: "${PASSWORD}"}]\nstateDir: /var/lib/xcp-backup\n`,
    )
    const loaded = await loadRunnerConfig(inline)
    expect(loaded.config.pools[0]!.password.reveal()).toBe(PASSWORD)
    expect(loaded.warnings).toEqual([
      expect.stringMatching(
        /^pools\[0\]\.password: the password is written in the configuration file; move it to a file/,
      ),
    ])
    write(dir, 'open.password', PASSWORD, 0o644)
    const open = write(
      dir,
      'open.yaml',
      'pools: [{name: a, url: "https://a", user: root, passwordFile: open.password}]\nstateDir: s\n',
    )
    expect((await loadRunnerConfig(open)).warnings).toEqual([
      `pools[0].passwordFile: ${join(dir, 'open.password')} can be read by other users: chmod 600 it (owned by the runner's user)`,
    ])
  })

  it('names every wrong field, with the closest valid name for a typo, and never quotes a password', async () => {
    const dir = newDir()
    const file = write(
      dir,
      'bad.yaml',
      [
        'pools:',
        `  - {name: a, url: "https://root:${PASSWORD}@host", user: root, password: "${PASSWORD}", passwordFile: x}`,
        '  - {name: a, url: "ftp://host", user: ""}',
        'stateDir: 7',
        'shutdownGrace: soon',
        'runLog: {keepRun: 3}',
        'remotes: {nas: {mountPoint: mnt/nas}}',
        '',
      ].join('\n'),
    )
    const error = await failureOf(file)
    expect(error.code).toBe('INVALID_RUNNER_CONFIG')
    expect(error.failures).toEqual([
      {
        property: 'pools[0].url',
        reason: 'contains credentials: remove them from the URL and set user and passwordFile',
      },
      {
        property: 'pools[0].passwordFile',
        reason: 'password and passwordFile are both set: keep passwordFile and remove password',
      },
      { property: 'pools[1].url', reason: 'uses "ftp:": expected https:// (or http://)' },
      { property: 'pools[1].user', reason: 'must not be empty' },
      { property: 'pools[1].passwordFile', reason: 'is required: set passwordFile (or password)' },
      { property: 'pools[1].name', reason: 'pool name "a" is used twice: give each pool its own name' },
      { property: 'stateDir', reason: 'expected a string, got a number' },
      { property: 'remotes.nas.mountPoint', reason: 'must be an absolute path' },
      {
        property: 'shutdownGrace',
        reason: '"soon" is not a duration such as "45s", "10m", "4h", "1h30m" or "2d" (greater than 0)',
      },
      { property: 'runLog.keepRun', reason: 'unknown property "keepRun": did you mean "keepRuns"?' },
    ])
    expect(error.message).toContain(`invalid runner configuration ${file}:\n  pools[0].url: contains credentials`)
    expect(error.message).not.toContain(PASSWORD)
  })

  it('reports YAML syntax errors by line and column, without quoting the file', async () => {
    const dir = newDir()
    const file = write(dir, 'broken.yaml', `pools:\n  - name: a\n    password: "${PASSWORD}\nstateDir: [\n`)
    const error = await failureOf(file)
    expect(error.failures[0]!.reason).toMatch(/^line \d+, column \d+: not valid YAML \(/)
    expect(error.message).not.toContain(PASSWORD)
  })

  it('names the password file that cannot be read, and refuses an empty one', async () => {
    const dir = newDir()
    write(dir, 'empty.password', '\n')
    const file = write(
      dir,
      'runner.yaml',
      'pools:\n  - {name: a, url: "https://a", user: root, passwordFile: missing}\n  - {name: b, url: "https://b", user: root, passwordFile: empty.password}\nstateDir: s\n',
    )
    const error = await failureOf(file)
    expect(error.failures).toEqual([
      { property: 'pools[0].passwordFile', reason: `${join(dir, 'missing')} cannot be read (ENOENT)` },
      {
        property: 'pools[1].passwordFile',
        reason: `${join(dir, 'empty.password')} is empty: write the password in it`,
      },
    ])
    expect((await failureOf(join(dir, 'nope.yaml'))).message).toContain('(file): cannot be read (ENOENT)')
  })

  it('documents every field in docs/runner.md', () => {
    const doc = readFileSync(join(packageRoot, 'docs/runner.md'), 'utf8')
    const fields = (shape: Record<string, unknown>, prefix = ''): string[] =>
      Object.entries(shape).flatMap(([key, schema]) => {
        const inner = schema as {
          def?: { innerType?: { shape?: Record<string, unknown> } }
          shape?: Record<string, unknown>
        }
        const nested = inner.shape ?? inner.def?.innerType?.shape
        return [prefix + key, ...(nested === undefined ? [] : fields(nested, `${prefix}${key}.`))]
      })
    const all = fields(runnerConfigSchema.shape)
    expect(all).toContain('runLog.keepRuns')
    for (const field of [
      ...all,
      'pools[].name',
      'pools[].url',
      'pools[].user',
      'pools[].password',
      'pools[].passwordFile',
      'pools[].allowUnauthorized',
      'remotes.<name>.mountPoint',
    ]) {
      expect(doc, field).toContain(`\`${field}\``)
    }
  })
})
