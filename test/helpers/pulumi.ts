import { execFile, execFileSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { packageRoot } from '../../provider/common/package-info'

/**
 * The real Pulumi CLI for end-to-end tests: local file backend, passphrase secrets, no network.
 * The CLI comes from scripts/lib/pulumi-cli.sh (a `pulumi` on PATH, else a cached Go build).
 */
let cliDir: string | undefined
function pulumiBinDir(): string {
  cliDir ??= execFileSync(join(packageRoot, 'scripts/lib/pulumi-cli.sh'), { encoding: 'utf8' }).trim()
  return cliDir
}

export interface PulumiResult {
  code: number
  stdout: string
  stderr: string
}

export interface PulumiWorkspace {
  /** The Pulumi program directory (a copy of an example, wired to this package). */
  dir: string
  /** Everything the CLI printed, command by command (stdout then stderr): tests grep it for secrets. */
  transcript: string[]
  /** Everything the CLI wrote: state, plugins, logs. Tests grep it for secrets. */
  home: string
  stateDir: string
  env: NodeJS.ProcessEnv
  run(args: string[], options?: { input?: string }): Promise<PulumiResult>
  /** Runs and throws with the CLI's output when the exit code is not the expected one. */
  expect(args: string[], code?: number): Promise<PulumiResult>
  dispose(): Promise<void>
}

export const passphrase = 'test-passphrase-not-secret'

/**
 * Copies a Pulumi program (e.g. examples/quickstart) into a temporary directory whose node_modules
 * resolves `pulumi-xcp-backup` to this checkout and `@pulumi/pulumi` to our pinned SDK, and creates a
 * stack on a local file backend.
 */
export async function createPulumiWorkspace(programDir: string, stack = 'test'): Promise<PulumiWorkspace> {
  const root = await mkdtemp(join(tmpdir(), 'xcpb-pulumi-'))
  const dir = join(root, 'program')
  await cp(programDir, dir, { recursive: true, filter: (source) => !source.includes('node_modules') })
  await mkdir(join(dir, 'node_modules/@pulumi'), { recursive: true })
  await symlink(packageRoot, join(dir, 'node_modules/pulumi-xcp-backup'))
  await symlink(join(packageRoot, 'node_modules/@pulumi/pulumi'), join(dir, 'node_modules/@pulumi/pulumi'))
  await symlink(join(packageRoot, 'node_modules/typescript'), join(dir, 'node_modules/typescript'))
  await symlink(join(packageRoot, 'node_modules/@types'), join(dir, 'node_modules/@types'))
  return openPulumiWorkspace(root, dir, stack)
}

/**
 * A Pulumi home, a local file backend and a stack for a program directory laid out by the caller (for
 * programs that must run where they are, such as the repository's root Pulumi.yaml). `root` holds the
 * home and state and is removed by dispose.
 */
export async function openPulumiWorkspace(root: string, dir: string, stack = 'test'): Promise<PulumiWorkspace> {
  const home = join(root, 'home')
  const stateDir = join(root, 'state')
  await mkdir(home, { recursive: true })
  await mkdir(stateDir, { recursive: true })

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${pulumiBinDir()}:${join(process.execPath, '..')}:${process.env.PATH ?? ''}`,
    PULUMI_HOME: home,
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    PULUMI_CONFIG_PASSPHRASE: passphrase,
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    PULUMI_SKIP_CONFIRMATIONS: 'true',
    NO_COLOR: '1',
  }

  const transcript: string[] = []
  const run = (args: string[], options: { input?: string } = {}): Promise<PulumiResult> =>
    new Promise((resolve) => {
      const child = execFile(
        'pulumi',
        [...args, '--non-interactive'],
        { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
          // The command's own arguments may hold the secrets under test: only the CLI's output is kept.
          transcript.push(`$ pulumi ${args[0] ?? ''}\n${stdout}${stderr}`)
          resolve({ code, stdout, stderr })
        },
      )
      if (options.input !== undefined) child.stdin?.end(options.input)
    })

  const expectCode = async (args: string[], code = 0): Promise<PulumiResult> => {
    const result = await run(args)
    if (result.code !== code) {
      throw new Error(
        `pulumi ${args.join(' ')} exited ${result.code}, expected ${code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
      )
    }
    return result
  }

  await expectCode(['stack', 'init', stack])
  return {
    dir,
    transcript,
    home,
    stateDir,
    env,
    run,
    expect: expectCode,
    dispose: () => rm(root, { recursive: true, force: true }),
  }
}
