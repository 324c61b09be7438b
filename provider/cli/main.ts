#!/usr/bin/env node
import { Command } from 'commander'
import { packageVersion } from '../common/package-info'
import { registerExplain } from './explain'
import { registerLs } from './ls'

/** The `xcp-backup` command. Each subcommand lives in its own module and registers itself here. */
export function buildCli(): Command {
  const program = new Command('xcp-backup')
    .description('Backup policy as code for XCP-ng and XenServer pools')
    .version(packageVersion)
  registerExplain(program)
  registerLs(program)
  return program
}

if (require.main === module) {
  buildCli()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error))
      process.exitCode = 1
    })
}
