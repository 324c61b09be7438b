import { Command } from 'commander'
import { explainCode, explanationCodes, formatExplanation } from '../explain/catalog'

/** `xcp-backup explain CODE`: what an error code means and what to do, as run logs print it. */
export function explainCommand(): Command {
  return new Command('explain')
    .description('explain an error code (XAPI, storage or xcp-backup) and what to do about it')
    .argument('[code]', 'for example SR_BACKEND_FAILURE_44; omit to list the known codes')
    .action((code: string | undefined) => {
      if (code === undefined) {
        console.log(explanationCodes().join('\n'))
        return
      }
      const explanation = explainCode(code)
      if (!explanation) {
        console.error(`no explanation for "${code}"; known codes:\n${explanationCodes().join('\n')}`)
        process.exitCode = 2
        return
      }
      console.log(formatExplanation(explanation))
    })
}
