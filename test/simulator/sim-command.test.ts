import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process'
import { access, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from 'xen-api'
import { packageRoot } from '../../provider/common/package-info'
import { SimulatorControlClient } from '../../simulator'
import { temporaryDirectory } from './helpers'

const cli = join(packageRoot, 'dist', 'provider', 'cli', 'main.js')
const children: ChildProcessWithoutNullStreams[] = []

beforeAll(async () => {
  // The command is tested as users run it: the compiled CLI, in its own process.
  await promisify(execFile)(
    process.execPath,
    [join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: packageRoot,
    },
  )
})

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
})

interface RunningCommand {
  readonly child: ChildProcessWithoutNullStreams
  readonly url: string
  readonly lines: string[]
  readonly exited: Promise<number | null>
}

/** Starts `xcp-backup sim` and waits for the line that says where it listens. */
async function startCommand(args: string[]): Promise<RunningCommand> {
  const child = spawn(process.execPath, [cli, 'sim', ...args], { cwd: packageRoot })
  children.push(child)
  const lines: string[] = []
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = ''
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const parts = buffer.split('\n')
      buffer = parts.pop() ?? ''
      for (const line of parts) {
        lines.push(line)
        const match = /^xcp-backup sim: listening on (http:\/\/127\.0\.0\.1:\d+) \(user root\)$/.exec(line)
        if (match !== null) resolve(match[1]!)
      }
    })
    void exited.then((code) => reject(new Error(`xcp-backup sim exited with ${code} before listening: ${stderr}`)))
  })
  return { child, url, lines, exited }
}

describe('xcp-backup sim', () => {
  it('prints its URL, serves the xen-api client, stops on SIGTERM and keeps its pool', async () => {
    const stateDir = await temporaryDirectory()
    const first = await startCommand(['--port', '0', '--state-dir', stateDir, '--password', 'test-pw'])
    expect(first.lines[0]).toBe(`xcp-backup sim: created the pool from the demo fixture in ${stateDir}`)

    const xapi = createClient({ url: first.url, auth: { user: 'root', password: 'test-pw' }, debounce: 10 })
    await xapi.connect()
    await xapi.objectsFetched
    const web = Object.values(xapi.objects.indexes.type.VM!).find((vm) => vm.name_label === 'web-01')!
    await xapi.call('VM.add_tags', web.$ref, 'from-the-process-test')
    const control = new SimulatorControlClient(first.url, { password: 'test-pw' })
    const { poolUuid } = await control.info()
    await xapi.disconnect()

    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    expect(first.lines).toContain('xcp-backup sim: stopped')
    await access(join(stateDir, 'state.json'))
    await expect(access(join(stateDir, 'simulator.lock'))).rejects.toThrow()

    const second = await startCommand(['--port', '0', '--state-dir', stateDir, '--password', 'test-pw'])
    expect(second.lines[0]).toBe(`xcp-backup sim: reusing the pool in ${stateDir}`)
    const again = createClient({ url: second.url, auth: { user: 'root', password: 'test-pw' }, watchEvents: false })
    await again.connect()
    expect(again.pool.uuid).toBe(poolUuid)
    expect(await again.call('VM.get_tags', web.$ref)).toContain('from-the-process-test')
    await again.disconnect()
    second.child.kill('SIGINT')
    expect(await second.exited).toBe(0)
  })

  it('says which fixture field is wrong and exits non-zero', async () => {
    const stateDir = await temporaryDirectory()
    const fixture = join(stateDir, 'bad.yaml')
    await writeFile(fixture, 'pool: { name: p }\nhosts: [{ name: h }]\nvms: [{ name: v, memory: lots }]\n')
    const result = await promisify(execFile)(process.execPath, [
      cli,
      'sim',
      '--port',
      '0',
      '--state-dir',
      join(stateDir, 'state'),
      '--fixture',
      fixture,
    ]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('vms[0].memory: expected a size like "20GiB"')
  })
})
