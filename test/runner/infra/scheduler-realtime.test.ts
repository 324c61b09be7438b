import { describe, expect, it } from 'vitest'
import { type Clock, systemClock } from '../../../provider/runner/clock'
import { RunLog } from '../../../provider/runner/log'
import { Scheduler } from '../../../provider/runner/schedule'
import { deferred, makeJob } from './helpers/jobs'
import { useStateDirs } from './helpers/state-dir'

const newStateDir = useStateDirs()

describe('scheduler on the real clock', () => {
  it('fires a schedule whose next run is about a second away, with real timers, not before its time', async () => {
    // Cron has minutes only: shift the wall clock so the next minute starts about a second from now.
    const offset = (59_000 - (Date.now() % 60_000) + 60_000) % 60_000
    const clock: Clock = { now: () => Date.now() + offset, setTimeout: systemClock.setTimeout }
    const boundary = Math.ceil(clock.now() / 60_000) * 60_000
    const { runLog } = RunLog.open({ stateDir: newStateDir(), clock })
    const fired = deferred<number>()
    const scheduler = new Scheduler({
      runLog,
      clock,
      runJob: async () => fired.resolve(clock.now()),
    })
    scheduler.setJobs([makeJob('job-1', [{ name: 'every-minute', cron: '* * * * *' }])])
    expect(scheduler.upcoming()[0]!.at.getTime()).toBe(boundary)
    const at = await fired.promise
    expect(at).toBeGreaterThanOrEqual(boundary)
    await scheduler.stop({ graceMs: 1000 })
    const [run] = runLog.store.listRuns('job-1').runs
    expect(run!.summary).toMatchObject({ status: 'success', scheduleName: 'every-minute' })
    expect(run!.summary.start).toBeGreaterThanOrEqual(boundary)
  }, 10_000)
})
