import { describe, expect, it } from 'vitest'
import type { Schedule } from '../../../provider/policy/job-schedule'
import { nextRuns } from '../../../provider/policy/schedule'
import { delay } from '../../../provider/runner/clock'
import { scheduleId } from '../../../provider/runner/ids'
import { RunLog, type TaskHandle, TaskNames } from '../../../provider/runner/log'
import { MAX_TIMER_STEP_MS, type RunJob, type ScheduledJob, Scheduler } from '../../../provider/runner/schedule'
import { FakeClock } from './helpers/fake-clock'
import { deferred, makeJob } from './helpers/jobs'
import { useStateDirs } from './helpers/state-dir'

const newStateDir = useStateDirs()
const MINUTE = 60_000
const HOUR = 60 * MINUTE

interface Call {
  jobId: string
  schedule: string
  at: string
  run: TaskHandle
  signal: AbortSignal
}

/** A scheduler on a fake clock whose job function records each call and does `work` (default: nothing). */
function setup(start: string, work: (call: Call) => Promise<void> = async () => {}) {
  const clock = new FakeClock(new Date(start))
  const stateDir = newStateDir()
  const { runLog } = RunLog.open({ stateDir, clock })
  const calls: Call[] = []
  const runJob: RunJob = (job: ScheduledJob, schedule: Schedule, run: TaskHandle, signal: AbortSignal) => {
    const call = { jobId: job.id, schedule: schedule.name, at: new Date(clock.now()).toISOString(), run, signal }
    calls.push(call)
    return work(call)
  }
  const scheduler = new Scheduler({ runLog, runJob, clock })
  const runs = (jobId: string) =>
    runLog.store
      .listRuns(jobId)
      .runs.map(({ summary }) => summary)
      .reverse()
  return { clock, runLog, scheduler, calls, runs, stateDir }
}

describe('scheduler', () => {
  it('fires each enabled schedule at its cron time in its own time zone, and logs the run with the schedule id', async () => {
    const { clock, scheduler, calls, runs } = setup('2026-06-01T00:00:00Z')
    scheduler.setJobs([
      makeJob('job-1', [
        { name: 'paris', cron: '0 3 * * *', timezone: 'Europe/Paris' },
        { name: 'new-york', cron: '0 3 * * *', timezone: 'America/New_York' },
        { name: 'off', cron: '* * * * *', enabled: false },
      ]),
    ])
    expect(scheduler.upcoming().map((run) => [run.scheduleName, run.at.toISOString()])).toEqual([
      ['paris', '2026-06-01T01:00:00.000Z'],
      ['new-york', '2026-06-01T07:00:00.000Z'],
    ])
    await clock.advanceTo(new Date('2026-06-01T00:59:59.999Z'))
    expect(calls).toEqual([])
    await clock.advanceTo(new Date('2026-06-02T00:00:00Z'))
    expect(calls.map((call) => [call.schedule, call.at])).toEqual([
      ['paris', '2026-06-01T01:00:00.000Z'],
      ['new-york', '2026-06-01T07:00:00.000Z'],
    ])
    expect(runs('job-1').map((run) => [run.scheduleName, run.scheduleId, run.status, run.mode])).toEqual([
      ['paris', scheduleId('job-1', 'paris'), 'success', 'delta'],
      ['new-york', scheduleId('job-1', 'new-york'), 'success', 'delta'],
    ])
  })

  it('never arms a timer past Node’s limit and fires a yearly schedule on time, not early', async () => {
    const { clock, scheduler, calls } = setup('2026-11-01T00:00:00Z') // two months ahead: past 24.8 days
    scheduler.setJobs([makeJob('yearly', [{ name: 'new-year', cron: '0 0 1 1 *' }])])
    await clock.advanceTo(new Date('2026-12-31T23:59:00Z'))
    expect(calls).toEqual([])
    await clock.advanceTo(new Date('2027-01-01T00:00:30Z'))
    expect(calls.map((call) => call.at)).toEqual(['2027-01-01T00:00:00.000Z'])
    expect(clock.requestedDelays.reduce((a, b) => Math.max(a, b), 0)).toBe(MAX_TIMER_STEP_MS)
  })

  it('fires once within a minute when the wall clock jumps past a run, and does not drift afterwards', async () => {
    const { clock, scheduler, calls } = setup('2026-06-01T01:00:00Z')
    scheduler.setJobs([makeJob('job-1', [{ name: 'daily', cron: '0 3 * * *' }])])
    clock.jump(3 * HOUR) // 04:00 on the wall clock, no time elapsed
    await clock.advance(MINUTE)
    expect(calls.map((call) => call.at)).toEqual(['2026-06-01T04:01:00.000Z'])
    await clock.advanceTo(new Date('2026-06-02T03:00:00Z'))
    expect(calls.map((call) => call.at)).toEqual(['2026-06-01T04:01:00.000Z', '2026-06-02T03:00:00.000Z'])
  })

  it('fires once per slot when the wall clock steps back after a run, and never early when it steps back before', async () => {
    const { clock, scheduler, calls } = setup('2026-06-01T02:00:00Z')
    scheduler.setJobs([makeJob('job-1', [{ name: 'daily', cron: '0 3 * * *' }])])
    clock.jump(-2 * HOUR) // 00:00: the 03:00 run is now 3 hours away on the wall clock
    await clock.advance(HOUR + 30 * MINUTE)
    expect(calls).toEqual([])
    await clock.advance(90 * MINUTE)
    expect(calls.map((call) => call.at)).toEqual(['2026-06-01T03:00:00.000Z'])
    clock.jump(-30 * MINUTE) // back to 02:30: 03:00 comes again on the wall clock
    await clock.advanceTo(new Date('2026-06-01T12:00:00Z'))
    expect(calls).toHaveLength(1)
  })

  it('follows the policy’s clock-change rules: 02:30 in Paris fires at 03:30 when clocks go forward and once when they go back', async () => {
    const { clock, scheduler, calls } = setup('2026-03-27T12:00:00Z')
    const schedule = { name: 'daily', cron: '30 2 * * *', timezone: 'Europe/Paris' }
    scheduler.setJobs([makeJob('job-1', [schedule])])
    await clock.advanceTo(new Date('2026-03-31T00:00:00Z'))
    const expectedSpring = nextRuns(
      { cron: schedule.cron, timezone: schedule.timezone },
      3,
      new Date('2026-03-27T12:00:00Z'),
    )
    expect(calls.map((call) => call.at)).toEqual(expectedSpring.map((date) => date.toISOString()))
    expect(calls[1]!.at).toBe('2026-03-29T01:30:00.000Z') // 03:30 CEST

    calls.length = 0
    clock.setWall(new Date('2026-10-23T12:00:00Z'))
    scheduler.setJobs([makeJob('job-1', [{ ...schedule, cron: '30 2 * * * ' }])]) // same timing: keeps its (stale) slot
    scheduler.setJobs([makeJob('job-1', [{ ...schedule, timezone: 'Europe/Berlin' }])]) // changed: re-armed from now
    await clock.advanceTo(new Date('2026-10-27T00:00:00Z'))
    expect(calls.map((call) => call.at)).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z', // the first 02:30, not the second
      '2026-10-26T01:30:00.000Z',
    ])
  })

  it('records JOB_ALREADY_RUNNING, as a failed run, when a schedule fires while its job runs', async () => {
    const release = deferred()
    const { clock, scheduler, calls, runs } = setup('2026-06-01T00:30:00Z', async (call) => {
      if (call.at === '2026-06-01T01:00:00.000Z') await release.promise
    })
    scheduler.setJobs([
      makeJob('job-1', [
        { name: 'hourly', cron: '0 * * * *' },
        { name: 'other', cron: '0 2 * * *' },
      ]),
    ])
    await clock.advanceTo(new Date('2026-06-01T02:30:00Z'))
    expect(calls.map((call) => call.at)).toEqual(['2026-06-01T01:00:00.000Z'])
    expect(scheduler.running().map((run) => run.jobId)).toEqual(['job-1'])
    release.resolve()
    await clock.advanceTo(new Date('2026-06-01T03:00:00Z'))
    const log = runs('job-1')
    expect(log.map((run) => [run.scheduleName, run.status, run.errors[0]?.code])).toEqual([
      ['hourly', 'success', undefined],
      ['hourly', 'failure', 'JOB_ALREADY_RUNNING'],
      ['other', 'failure', 'JOB_ALREADY_RUNNING'],
      ['hourly', 'success', undefined],
    ])
    expect(log[1]!.errors[0]!.title).toBe('The job is already running')
    expect(log[1]!.start).toBe(Date.parse('2026-06-01T02:00:00Z'))
  })

  it('replaces jobs live: a changed schedule re-arms, a removed job stops firing, a running run goes on', async () => {
    const release = deferred()
    const { clock, scheduler, calls, runs } = setup('2026-06-01T00:00:00Z', async (call) => {
      if (call.jobId === 'long') await release.promise
    })
    const keep = makeJob('keep', [{ name: 'daily', cron: '0 5 * * *' }])
    scheduler.setJobs([
      keep,
      makeJob('moved', [{ name: 'daily', cron: '0 2 * * *' }]),
      makeJob('long', [{ name: 'daily', cron: '0 1 * * *' }]),
      makeJob('gone', [{ name: 'daily', cron: '0 4 * * *' }]),
    ])
    await clock.advanceTo(new Date('2026-06-01T01:30:00Z'))
    expect(scheduler.running().map((run) => run.jobId)).toEqual(['long'])
    scheduler.setJobs([keep, makeJob('moved', [{ name: 'daily', cron: '0 6 * * *' }])])
    await clock.advanceTo(new Date('2026-06-01T07:00:00Z'))
    expect(calls.map((call) => [call.jobId, call.at])).toEqual([
      ['long', '2026-06-01T01:00:00.000Z'],
      ['keep', '2026-06-01T05:00:00.000Z'],
      ['moved', '2026-06-01T06:00:00.000Z'],
    ])
    expect(scheduler.running().map((run) => run.jobId)).toEqual(['long'])
    release.resolve()
    await clock.advance(1)
    expect(runs('long').map((run) => run.status)).toEqual(['success'])
    expect(runs('gone')).toEqual([])
    await clock.advanceTo(new Date('2026-06-02T07:00:00Z'))
    expect(calls.map((call) => call.jobId)).toEqual(['long', 'keep', 'moved', 'keep', 'moved'])
  })

  it('ends a run whose job function throws as failed, with the error explained', async () => {
    const { clock, scheduler, runs, runLog } = setup('2026-06-01T00:00:00Z', async () => {
      throw Object.assign(new Error('Lock file is already being held'), { code: 'ELOCKED' })
    })
    scheduler.setJobs([makeJob('job-1', [{ name: 'daily', cron: '0 1 * * *' }])])
    await clock.advanceTo(new Date('2026-06-01T02:00:00Z'))
    const [run] = runs('job-1')
    expect(run).toMatchObject({ status: 'failure', errors: [{ code: 'ELOCKED' }] })
    expect(runLog.store.loadRun('job-1', run!.runId).root!.error!.explanation.title).toBe(
      'The VM’s folder on the remote is locked',
    )
  })

  it('runs a job on demand with any of its schedules, under the same one-run-per-job rule', async () => {
    const release = deferred()
    const { scheduler, calls } = setup('2026-06-01T00:00:00Z', () => release.promise)
    const job = makeJob('job-1', [{ name: 'manual', cron: '0 0 1 1 *', enabled: false }])
    const first = scheduler.trigger(job, 'manual')
    const second = scheduler.trigger(job, 'manual')
    expect(await second.done).toBe('failure')
    release.resolve()
    expect(await first.done).toBe('success')
    expect(calls).toHaveLength(1)
    expect(() => scheduler.trigger(job, 'nope')).toThrow('job "job-1" has no schedule "nope": it has "manual"')
  })
})

describe('scheduler shutdown', () => {
  /** A job that works for an hour through the pipeline's tasks, honouring the signal or not. */
  const hourOfWork = (clock: FakeClock, honour: boolean) => async (call: Call) => {
    const vm = call.run.child(TaskNames.vm, { vmUuid: 'vm-1', name_label: 'web-1' })
    const exported = vm.child(TaskNames.export, { id: 'nas', type: 'remote' })
    const transfer = exported.child(TaskNames.transfer)
    await delay(clock, HOUR, honour ? call.signal : undefined)
    transfer.succeed({ size: 1 })
    exported.succeed()
    vm.succeed()
  }

  it('lets a run finish within the grace period', async () => {
    const { clock, scheduler, calls, runs } = setup('2026-06-01T00:59:00Z', (call) => hourOfWork(clock, true)(call))
    scheduler.setJobs([makeJob('job-1', [{ name: 'hourly', cron: '0 * * * *' }])])
    await clock.advance(2 * MINUTE)
    const stopped = scheduler.stop({ graceMs: 2 * HOUR })
    await clock.advance(2 * HOUR)
    expect(await stopped).toEqual({ finished: [calls[0]!.run.runId], interrupted: [] })
    expect(runs('job-1').map((run) => run.status)).toEqual(['success'])
    expect(calls).toHaveLength(1) // 02:00 did not fire
  })

  it('aborts a run that honours the signal after the grace period: it ends interrupted', async () => {
    const { clock, scheduler, calls, runs, runLog } = setup('2026-06-01T00:59:00Z', (call) =>
      hourOfWork(clock, true)(call),
    )
    scheduler.setJobs([makeJob('job-1', [{ name: 'hourly', cron: '0 * * * *' }])])
    await clock.advance(2 * MINUTE)
    const stopped = scheduler.stop({ graceMs: 10 * MINUTE })
    await clock.advance(10 * MINUTE)
    expect(calls[0]!.signal.aborted).toBe(true)
    expect(await stopped).toEqual({ finished: [], interrupted: [calls[0]!.run.runId] })
    const [run] = runs('job-1')
    expect(run).toMatchObject({ status: 'interrupted', vmCounts: { interrupted: 1 } })
    const tree = runLog.store.loadRun('job-1', run!.runId)
    expect([...tree.tasks.values()].map((task) => [task.name, task.status, task.error?.code])).toEqual([
      ['backup run', 'interrupted', 'INTERRUPTED'],
      ['backup VM', 'interrupted', 'INTERRUPTED'],
      ['export', 'interrupted', 'INTERRUPTED'],
      ['transfer', 'interrupted', 'INTERRUPTED'],
    ])
    expect(tree.root!.end).toBe(Date.parse('2026-06-01T01:11:00Z'))
  })

  it('marks a run that ignores the signal interrupted after the grace and settle periods, whatever it does later', async () => {
    const { clock, scheduler, calls, runs, runLog } = setup('2026-06-01T00:59:00Z', (call) =>
      hourOfWork(clock, false)(call),
    )
    scheduler.setJobs([makeJob('job-1', [{ name: 'hourly', cron: '0 * * * *' }])])
    await clock.advance(2 * MINUTE)
    const stopped = scheduler.stop({ graceMs: 10 * MINUTE, settleMs: 5000 })
    await clock.advance(10 * MINUTE + 5000)
    expect(await stopped).toEqual({ finished: [], interrupted: [calls[0]!.run.runId] })
    const [run] = runs('job-1')
    expect(run!.status).toBe('interrupted')
    const tree = runLog.store.loadRun('job-1', run!.runId)
    expect(tree.pendingTasks()).toEqual([])
    expect(tree.root!.end).toBe(Date.parse('2026-06-01T01:11:05Z'))
    // The job function finishes its hour: the log does not change.
    await clock.advance(HOUR)
    expect(runLog.store.loadRun('job-1', run!.runId).root).toEqual(tree.root)
    expect(() => scheduler.trigger(makeJob('job-1', [{ name: 'hourly', cron: '0 * * * *' }]), 'hourly')).toThrow(
      'the runner is stopping',
    )
  })
})
