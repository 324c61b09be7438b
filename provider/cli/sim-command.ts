import { homedir } from 'node:os'
import { join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { DEFAULT_SIMULATOR_PASSWORD, type RunningSimulator, startSimulator } from '../../simulator'

/** The port `xcp-backup sim` listens on by default. */
export const DEFAULT_SIM_PORT = 8480

function defaultStateDir(): string {
  return join(process.env.XCP_BACKUP_CACHE ?? join(homedir(), '.cache', 'xcp-backup'), 'sim-state')
}

function parsePort(value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError('expected a TCP port number (0 to 65535, 0 picks a free one)')
  }
  return port
}

/** `xcp-backup sim`: serves a simulated XCP-ng pool on 127.0.0.1 until SIGTERM or SIGINT. */
export function simCommand(): Command {
  return new Command('sim')
    .description('Serve a simulated XCP-ng pool (XAPI over JSON-RPC and XML-RPC) on 127.0.0.1, for tests and demos')
    .option('--port <port>', 'TCP port (0 picks a free one)', parsePort, DEFAULT_SIM_PORT)
    .option('--state-dir <dir>', 'where the pool is kept between runs', defaultStateDir())
    .option(
      '--fixture <file>',
      'YAML description of the pool to create when the state directory is empty (default: the demo pool)',
    )
    .option('--password <password>', "root's password (for the simulator only)", DEFAULT_SIMULATOR_PASSWORD)
    .action(async (options: { port: number; stateDir: string; fixture?: string; password: string }) => {
      const simulator = await startSimulator({
        port: options.port,
        stateDir: options.stateDir,
        fixture: options.fixture,
        password: options.password,
      })
      const origin = simulator.reusedState
        ? `reusing the pool in ${options.stateDir}`
        : `created the pool from ${options.fixture ?? 'the demo fixture'} in ${options.stateDir}`
      process.stdout.write(`xcp-backup sim: ${origin}\n`)
      process.stdout.write(`xcp-backup sim: listening on ${simulator.url} (user root)\n`)
      await waitForSignal(simulator)
    })
}

function waitForSignal(simulator: RunningSimulator): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      process.stdout.write(`xcp-backup sim: ${signal} received, saving the pool and stopping\n`)
      simulator.close().then(
        () => {
          process.stdout.write('xcp-backup sim: stopped\n')
          resolve()
        },
        (error: unknown) => {
          process.stderr.write(`xcp-backup sim: could not stop cleanly: ${String(error)}\n`)
          process.exitCode = 1
          resolve()
        },
      )
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}
