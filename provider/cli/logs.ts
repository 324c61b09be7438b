import { Command } from 'commander'
import { runDocument } from '../runner/log/document'
import { renderRun, renderRunList } from '../runner/log/render'
import { type ListedRun, RunStore } from '../runner/log/store'
import { action, addStateDirOptions, resolveStateDir, type StateDirOptions, UsageError } from './state-dir'

interface LogsOptions extends StateDirOptions {
  run?: string
  json?: boolean
  limit: string
}

/** `xcp-backup logs [JOB] [--run RUNID]`: the runner's run log, as lists or as one run's task tree. */
export function logsCommand(): Command {
  return addStateDirOptions(
    new Command('logs')
      .description("show the runner's run log: recent runs per job, or one run's tasks with explained errors")
      .argument('[job]', 'job id or name; omit for every job')
      .option('--run <runId>', "show this run's task tree")
      .option('--json', 'print JSON: run summaries, or the run document with --run')
      .option('--limit <n>', 'runs listed per job', '10'),
  ).action(action(async (job: string | undefined, options: LogsOptions) => logs(job, options)))
}

async function logs(job: string | undefined, options: LogsOptions): Promise<void> {
  const store = new RunStore(await resolveStateDir(options))
  const jobId = job === undefined ? undefined : findJob(store, job)
  if (options.run !== undefined) {
    showRun(store, jobId, options.run, options.json === true)
    return
  }
  const limit = Number(options.limit)
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit ${options.limit}: expected a whole number ≥ 1`)
  const jobIds = jobId === undefined ? store.listJobs() : [jobId]
  const listings = jobIds.map((id) => ({ jobId: id, ...store.listRuns(id) }))
  for (const problem of listings.flatMap((listing) => listing.problems)) console.error(`xcp-backup: ${problem}`)
  if (options.json === true) {
    const out = listings.map(({ jobId: id, runs }) => ({
      jobId: id,
      jobName: runs[0]?.summary.jobName,
      runs: runs.slice(0, limit).map(({ summary, orphaned }) => ({ ...summary, orphaned })),
    }))
    console.log(JSON.stringify(out, null, 2))
    return
  }
  if (listings.length === 0) {
    console.log('no runs yet')
    return
  }
  const blocks = listings.map(({ jobId: id, runs }) => [
    `${runs[0]?.summary.jobName ?? id} (${id})`,
    ...renderRunList(runs.slice(0, limit)).map((line) => `  ${line}`),
  ])
  console.log(blocks.map((block) => block.join('\n')).join('\n\n'))
}

function showRun(store: RunStore, jobId: string | undefined, runId: string, json: boolean): void {
  const owner = jobId ?? store.findRun(runId)
  if (owner === undefined)
    throw new UsageError(`no run ${runId} in ${store.stateDir}: \`xcp-backup logs\` lists the runs`)
  const tree = store.loadRun(owner, runId)
  const listed: ListedRun | undefined = store.listRuns(owner).runs.find((run) => run.summary.runId === runId)
  const orphaned = listed?.orphaned === true
  const document = runDocument(tree, { allowPending: true })
  if (json) {
    console.log(JSON.stringify(orphaned ? { ...document, orphaned } : document, null, 2))
    return
  }
  console.log(renderRun(document.summary, document.root, { orphaned }).join('\n'))
}

/** A job by id, else by name (from its runs). */
function findJob(store: RunStore, wanted: string): string {
  const jobIds = store.listJobs()
  if (jobIds.includes(wanted)) return wanted
  const byName = jobIds.filter((id) => store.listRuns(id).runs[0]?.summary.jobName === wanted)
  if (byName.length === 1) return byName[0]!
  if (byName.length > 1)
    throw new UsageError(`several jobs are named ${JSON.stringify(wanted)}: give the id (${byName.join(', ')})`)
  const known = jobIds.map((id) => `${store.listRuns(id).runs[0]?.summary.jobName ?? id} (${id})`)
  throw new UsageError(
    `no runs for job ${JSON.stringify(wanted)} in ${store.stateDir}${known.length > 0 ? `; jobs with runs: ${known.join(', ')}` : ''}`,
  )
}
