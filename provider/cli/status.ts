import { Command } from 'commander'
import { nextJobRuns } from '../policy/schedule'
import { type JobStatus, jobStatusFromRuns } from '../runner/log/job-status'
import { RunStore } from '../runner/log/store'
import { formatDateTime, formatElapsed } from '../runner/progress/format'
import { type JobsFile, jobsFilePath, readJobsFile } from '../runner/schedule/jobs-file'
import { action, addStateDirOptions, resolveStateDir, type StateDirOptions } from './state-dir'

interface StatusOptions extends StateDirOptions {
  json?: boolean
}

/** What `status` says about a job; `--json` prints these. */
export interface JobStatusView {
  jobId: string
  jobName: string
  status: JobStatus
  /** A run going on now, or one whose runner died (orphaned: it will be recorded as interrupted). */
  running?: { runId: string; scheduleName: string; start: number; orphaned: boolean }
  /** From the jobs the runner follows (`<stateDir>/jobs.json`); absent when unknown. */
  nextRun?: { scheduleName: string; at: string }
}

/** `xcp-backup status`: per job, the last run, its result, failures in a row and the next run. */
export function statusCommand(): Command {
  return addStateDirOptions(
    new Command('status')
      .description('show each backup job: last run and result, last success, failures in a row, next run')
      .option('--json', 'print JSON'),
  ).action(action(async (options: StatusOptions) => status(options)))
}

async function status(options: StatusOptions): Promise<void> {
  const stateDir = await resolveStateDir(options)
  const store = new RunStore(stateDir)
  let jobsFile: JobsFile | undefined
  try {
    jobsFile = readJobsFile(stateDir)
  } catch (error) {
    console.error(`xcp-backup: ${(error as Error).message}`)
  }
  const views = collect(store, jobsFile, Date.now())
  if (options.json === true) {
    console.log(JSON.stringify(views, null, 2))
    return
  }
  if (views.length === 0) {
    console.log(`no jobs: the runner has neither run a job nor written ${jobsFilePath(stateDir)} yet`)
    return
  }
  console.log(views.map((view) => render(view, jobsFile !== undefined)).join('\n\n'))
}

function collect(store: RunStore, jobsFile: JobsFile | undefined, now: number): JobStatusView[] {
  const followed = new Map((jobsFile?.jobs ?? []).map((job) => [job.id, job]))
  const jobIds = [...new Set([...followed.keys(), ...store.listJobs()])]
  const views = jobIds.map((jobId) => {
    const { runs, problems } = store.listRuns(jobId)
    for (const problem of problems) console.error(`xcp-backup: ${problem}`)
    const job = followed.get(jobId)
    const view: JobStatusView = {
      jobId,
      jobName: job?.name ?? runs[0]?.summary.jobName ?? jobId,
      status: jobStatusFromRuns(
        jobId,
        runs.map((run) => run.summary),
      ),
    }
    const current = runs.find((run) => run.summary.end === undefined)
    if (current !== undefined) {
      const { runId, scheduleName, start } = current.summary
      view.running = { runId, scheduleName, start, orphaned: current.orphaned }
    }
    const next = job === undefined ? undefined : nextJobRuns(job.schedules, 1, new Date(now))[0]
    if (next !== undefined) view.nextRun = { scheduleName: next.schedule, at: next.at.toISOString() }
    return view
  })
  return views.sort((a, b) => (a.jobName < b.jobName ? -1 : a.jobName > b.jobName ? 1 : 0))
}

function render(view: JobStatusView, followsJobs: boolean): string {
  const { status } = view
  const lines = [`${view.jobName} (${view.jobId})`]
  const last = status.lastRun
  if (last === undefined) {
    lines.push('  last run:      none')
  } else {
    const counts = (['success', 'failure', 'skipped', 'interrupted'] as const)
      .filter((key) => last.vmCounts[key] > 0)
      .map((key) => `${last.vmCounts[key]} ${key}`)
      .join(', ')
    lines.push(
      `  last run:      ${formatDateTime(last.start)} (${last.scheduleName}), ${formatElapsed(last.end - last.start)}: ${last.status}${counts === '' ? '' : ` (VMs: ${counts})`}`,
    )
    for (const error of last.errors) lines.push(`    ${error.vm ?? 'job'}: ${error.code}: ${error.title}`)
    if (last.moreErrors > 0)
      lines.push(`    and ${last.moreErrors} more: xcp-backup logs ${view.jobId} --run ${last.runId}`)
  }
  if (view.running !== undefined) {
    const { runId, scheduleName, start, orphaned } = view.running
    lines.push(
      orphaned
        ? `  interrupted:   ${formatDateTime(start)} (${scheduleName}), run ${runId}: the runner stopped during the run; it is recorded when the runner starts again`
        : `  running:       since ${formatDateTime(start)} (${scheduleName}), run ${runId}`,
    )
  }
  lines.push(
    `  last success:  ${status.lastSuccess === undefined ? 'none in the kept runs' : formatDateTime(status.lastSuccess.start)}`,
  )
  lines.push(`  failures in a row: ${status.consecutiveFailures}`)
  const next = view.nextRun
  lines.push(
    `  next run:      ${
      next !== undefined
        ? `${formatDateTime(Date.parse(next.at))} (${next.scheduleName})`
        : followsJobs
          ? 'none (no enabled schedule, or the runner no longer follows this job)'
          : 'unknown (the runner has not written its jobs file yet)'
    }`,
  )
  return lines.join('\n')
}
