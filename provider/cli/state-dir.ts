import { resolve } from 'node:path'
import type { Command } from 'commander'
import { readStateDir } from '../runner/config/load'

/** `--state-dir DIR | --config FILE`: where the runner keeps its run log, for the commands that read it. */
export interface StateDirOptions {
  stateDir?: string
  config?: string
}

export function addStateDirOptions(command: Command): Command {
  return command
    .option('--state-dir <dir>', "the runner's state directory (stateDir in its configuration)")
    .option('--config <file>', "the runner's configuration file, to find its state directory")
}

export async function resolveStateDir(options: StateDirOptions): Promise<string> {
  if (options.stateDir !== undefined && options.config !== undefined) {
    throw new UsageError('give either --state-dir or --config, not both')
  }
  if (options.stateDir !== undefined) return resolve(options.stateDir)
  if (options.config !== undefined) return readStateDir(options.config)
  throw new UsageError(
    "where is the runner's state? Give --state-dir DIR (stateDir in the runner configuration) or --config FILE (the runner configuration)",
  )
}

/** A mistake on the command line: exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2
}

/** Runs a command action; errors print their message and set the exit code (2 for usage, 1 otherwise). */
export function action<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args)
    } catch (error) {
      console.error(`xcp-backup: ${error instanceof Error ? error.message : String(error)}`)
      process.exitCode = error instanceof UsageError ? 2 : 1
    }
  }
}
