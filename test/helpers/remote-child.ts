import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'

const runner = join(__dirname, 'remote-ts-child.cjs')

export interface TsChild {
  process: ChildProcess
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string
  /** Resolves when the child printed `line`; rejects with its output if it exits first. */
  waitFor(line: string, timeoutMs?: number): Promise<void>
  exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): Promise<void>
}

/** Runs a TypeScript entry of this project in a child Node.js process (test/helpers/remote-ts-child.cjs). */
export function spawnTs(entry: string, args: string[], env: Record<string, string> = {}): TsChild {
  const child = spawn(process.execPath, [runner, entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const listeners = new Set<() => void>()
  const append = (data: Buffer) => {
    output += data.toString()
    for (const listener of listeners) listener()
  }
  child.stdout?.on('data', append)
  child.stderr?.on('data', append)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    process: child,
    output: () => output,
    exited,
    waitFor: (line, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (output.split('\n').includes(line)) {
            listeners.delete(check)
            clearTimeout(timer)
            resolve()
          }
        }
        const timer = setTimeout(
          () => reject(new Error(`child did not print "${line}" in time:\n${output}`)),
          timeoutMs,
        )
        void exited.then((code) => {
          clearTimeout(timer)
          reject(new Error(`child exited (${code}) before printing "${line}":\n${output}`))
        })
        listeners.add(check)
        check()
      }),
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}
