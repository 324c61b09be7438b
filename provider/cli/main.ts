#!/usr/bin/env node
import { Command } from 'commander'
import { packageVersion } from '../common/package-info'
import { explainCommand } from './explain'
import { logsCommand } from './logs'
import { lsCommand } from './ls'
import { simCommand } from './sim-command'
import { statusCommand } from './status'

/** The `xcp-backup` command. Each subcommand is built in its own module and added here. */
export function buildCli(): Command {
  const program = new Command('xcp-backup')
    .description('Backup policy as code for XCP-ng and XenServer pools')
    .version(packageVersion)
  for (const command of [simCommand(), lsCommand(), logsCommand(), statusCommand(), explainCommand()]) {
    program.addCommand(command)
  }
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
