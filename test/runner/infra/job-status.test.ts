import { describe, expect, it } from 'vitest'
import {
  jobStatusFromRuns,
  jobStatusSchema,
  MAX_STATUS_ERRORS,
  RunLog,
  type RunSummary,
  TaskNames,
  updateJobStatus,
} from '../../../provider/runner/log'
import { readJobsFile, writeJobsFile } from '../../../provider/runner/schedule'
import { FakeClock } from './helpers/fake-clock'
import { makeJob } from './helpers/jobs'
import { useStateDirs, xapiError } from './helpers/state-dir'

const newStateDir = useStateDirs()

let sequence = 0
function summary(status: RunSummary['status'], extra: Partial<RunSummary> = {}): RunSummary {
  sequence++
  return {
    jobId: 'job-1',
    jobName: 'nightly',
    scheduleId: 's',
    scheduleName: 'daily',
    mode: 'delta',
    runId: `run-${sequence}`,
    start: sequence * 1000,
    end: sequence * 1000 + 500,
    status,
    vmCounts: { success: 0, failure: 0, skipped: 0, interrupted: 0 },
    errors: [],
    moreErrors: 0,
    size: 0,
    ...extra,
  }
}

describe('job status record', () => {
  it('counts failures and interruptions since the last success; skipped runs neither count nor reset', () => {
    const runs = [
      summary('success'),
      summary('failure'),
      summary('skipped'),
      summary('interrupted'),
      summary('pending', { end: undefined }),
    ]
    const status = jobStatusFromRuns('job-1', [...runs].reverse())
    expect(status).toMatchObject({
      consecutiveFailures: 2,
      lastSuccess: { runId: runs[0]!.runId },
      lastRun: { runId: runs[3]!.runId, status: 'interrupted' },
    })
    expect(updateJobStatus(status, summary('success')).consecutiveFailures).toBe(0)
    expect(updateJobStatus(status, summary('pending', { end: undefined }))).toBe(status)
  })

  it('keeps the last success of a previous record when its run has been pruned', () => {
    const previous = jobStatusFromRuns('job-1', [summary('success'), summary('failure')])
    const later = summary('failure')
    const status = jobStatusFromRuns('job-1', [later], previous)
    expect(status.lastSuccess).toEqual(previous.lastSuccess)
    expect(status.consecutiveFailures).toBe(2)
    // Runs the previous record already counted are not counted again.
    expect(jobStatusFromRuns('job-1', [later], status)).toEqual(status)
  })

  it('stays small for pool.other_config however many VMs fail, and round-trips its schema', () => {
    const stateDir = newStateDir()
    const { runLog } = RunLog.open({ stateDir, clock: new FakeClock(Date.parse('2026-06-01T03:00:00Z')) })
    const run = runLog.start({
      jobId: 'job-1',
      jobName: 'x'.repeat(64),
      scheduleId: 's',
      scheduleName: 'y'.repeat(64),
      mode: 'full',
    })
    for (let i = 0; i < 500; i++) {
      run
        .child(TaskNames.vm, {
          vmUuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          name_label: `vm-${'n'.repeat(200)}-${i}`,
        })
        .fail(xapiError(`SOME_VERY_LONG_ERROR_CODE_FROM_A_PLUGIN_${'X'.repeat(100)}`))
    }
    run.succeed()
    const [listed] = runLog.store.listRuns('job-1').runs
    expect(listed!.summary.vmCounts.failure).toBe(500)
    expect(listed!.summary.moreErrors).toBe(490)
    const status = updateJobStatus(undefined, listed!.summary)
    expect(status.lastRun!.errors).toHaveLength(MAX_STATUS_ERRORS)
    expect(status.lastRun!.moreErrors).toBe(500 - MAX_STATUS_ERRORS)
    const json = JSON.stringify(status)
    expect(json.length).toBeLessThan(2048)
    expect(jobStatusSchema.parse(JSON.parse(json))).toEqual(status)
  })
})

describe('jobs file', () => {
  it('keeps the jobs the runner follows, with their schedules, for status', () => {
    const stateDir = newStateDir()
    expect(readJobsFile(stateDir)).toBeUndefined()
    const job = makeJob('job-1', [{ name: 'daily', cron: '0 3 * * *', timezone: 'Europe/Paris' }], 'nightly')
    writeJobsFile(stateDir, [job], 1234)
    expect(readJobsFile(stateDir)).toEqual({
      format: 'xcp-backup/jobs',
      version: 1,
      updated: 1234,
      jobs: [{ id: 'job-1', name: 'nightly', mode: 'delta', schedules: job.spec.schedules }],
    })
  })
})
