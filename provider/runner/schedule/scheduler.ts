import type { BackupJob } from '../../policy/backup-job'
import type { Schedule } from '../../policy/job-schedule'
import { describeDuration, nextRuns } from '../../policy/schedule'
import { type Clock, systemClock } from '../clock'
import { scheduleId } from '../ids'
import { InterruptedError, RunError } from '../log/errors'
import type { EndStatus } from '../log/events'
import type { RunLog } from '../log/run-log'
import type { TaskHandle } from '../log/task'
import { WallClockAlarm } from './alarm'

/** A job as the scheduler knows it: its id (stable across renames), its name and its validated spec. */
export interface ScheduledJob {
  id: string
  name: string
  spec: BackupJob
}

/**
 * Runs one job (the backup pipeline). It records its work under `run` (the `backup run` task) and
 * should stop soon after `signal` aborts; the scheduler ends `run` when it returns or throws.
 */
export type RunJob = (job: ScheduledJob, schedule: Schedule, run: TaskHandle, signal: AbortSignal) => Promise<void>

export interface SchedulerOptions {
  runLog: RunLog
  runJob: RunJob
  clock?: Clock
}

export interface UpcomingRun {
  jobId: string
  jobName: string
  scheduleName: string
  scheduleId: string
  at: Date
}

export interface RunningJob {
  jobId: string
  runId: string
  scheduleName: string
  /** Settles when the run has ended, with its status. */
  done: Promise<EndStatus>
}

export interface StopOptions {
  /** How long running jobs may go on before they are aborted (the configuration's shutdownGrace). */
  graceMs: number
  /** After aborting, how long to wait for jobs to wind down before their pending tasks are marked interrupted. */
  settleMs?: number
}

export interface StopReport {
  /** Runs that ended on their own during the grace period. */
  finished: string[]
  /** Runs aborted and ended interrupted. */
  interrupted: string[]
}

const DEFAULT_SETTLE_MS = 5_000

interface Armed {
  job: ScheduledJob
  schedule: Schedule
  /** When it fires next, ms since the epoch; undefined when the cron expression never fires again. */
  next: number | undefined
  /** The slot it last fired for: a clock stepped back never fires the same slot twice. */
  lastSlot: number | undefined
}

interface Running {
  runId: string
  scheduleName: string
  run: TaskHandle
  controller: AbortController
  done: Promise<EndStatus>
}

/**
 * Fires every enabled schedule of the jobs it is given, in the schedule's time zone, and runs one run per
 * job at a time: a schedule firing while its job runs records a failed run, JOB_ALREADY_RUNNING, as XO
 * does on purpose (a planned backup did not happen). docs/runner.md, "Scheduler".
 */
export class Scheduler {
  readonly #runLog: RunLog
  readonly #runJob: RunJob
  readonly #clock: Clock
  readonly #alarm: WallClockAlarm
  #armed = new Map<string, Armed>()
  readonly #running = new Map<string, Running>()
  #stopping = false

  constructor(options: SchedulerOptions) {
    this.#runLog = options.runLog
    this.#runJob = options.runJob
    this.#clock = options.clock ?? systemClock
    this.#alarm = new WallClockAlarm(this.#clock)
  }

  /**
   * Replaces the set of jobs. A schedule whose cron or time zone changed is armed again from now; an
   * unchanged one keeps its next run; a removed job stops firing. Running runs are not disturbed.
   */
  setJobs(jobs: readonly ScheduledJob[]): void {
    const now = this.#clock.now()
    const armed = new Map<string, Armed>()
    for (const job of jobs) {
      for (const schedule of job.spec.schedules) {
        if (!schedule.enabled) continue
        const key = `${job.id}\0${schedule.name}`
        const previous = this.#armed.get(key)
        if (previous !== undefined && sameTiming(previous.schedule, schedule)) {
          armed.set(key, { ...previous, job, schedule })
        } else {
          armed.set(key, { job, schedule, next: nextSlot(schedule, now), lastSlot: undefined })
        }
      }
    }
    this.#armed = armed
    this.#rearm()
  }

  /** The next run of every armed schedule, soonest first. */
  upcoming(): UpcomingRun[] {
    return [...this.#armed.values()]
      .filter((armed) => armed.next !== undefined)
      .map(({ job, schedule, next }) => ({
        jobId: job.id,
        jobName: job.name,
        scheduleName: schedule.name,
        scheduleId: scheduleId(job.id, schedule.name),
        at: new Date(next!),
      }))
      .sort(
        (a, b) =>
          a.at.getTime() - b.at.getTime() || compare(a.jobId, b.jobId) || compare(a.scheduleName, b.scheduleName),
      )
  }

  running(): RunningJob[] {
    return [...this.#running.entries()].map(([jobId, { runId, scheduleName, done }]) => ({
      jobId,
      runId,
      scheduleName,
      done,
    }))
  }

  /**
   * Runs a job now with one of its schedules (`xcp-backup run`, disabled schedules included), under the
   * same one-run-per-job rule. Resolves with the run's status when it ends.
   */
  trigger(job: ScheduledJob, scheduleName: string): { runId: string; done: Promise<EndStatus> } {
    if (this.#stopping) throw new RunError('RUNNER_STOPPING', 'the runner is stopping: no new run can start')
    const schedule = job.spec.schedules.find((candidate) => candidate.name === scheduleName)
    if (schedule === undefined) {
      const names = job.spec.schedules.map((candidate) => JSON.stringify(candidate.name)).join(', ')
      throw new RunError(
        'NO_SUCH_SCHEDULE',
        `job ${JSON.stringify(job.name)} has no schedule ${JSON.stringify(scheduleName)}: it has ${names}`,
      )
    }
    return this.#start(job, schedule)
  }

  /**
   * Stops firing, lets running jobs go on for `graceMs`, then aborts them through their signal (reason:
   * an INTERRUPTED error), waits `settleMs` for them to wind down, and ends whatever is still pending
   * `interrupted`. Resolves once every run has ended in the log.
   */
  async stop(options: StopOptions): Promise<StopReport> {
    this.#stopping = true
    this.#alarm.cancel()
    const runs = [...this.#running.values()]
    const allDone = Promise.allSettled(runs.map((run) => run.done))
    const report: StopReport = { finished: [], interrupted: [] }
    if (!(await this.#within(allDone, options.graceMs))) {
      const reason = new InterruptedError(
        `the runner stopped and the run did not finish within the shutdown grace period (${describeDuration(options.graceMs)})`,
      )
      for (const run of runs) {
        if (run.run.closed) continue
        report.interrupted.push(run.runId)
        run.controller.abort(reason)
      }
      await this.#within(allDone, options.settleMs ?? DEFAULT_SETTLE_MS)
      // Jobs that ignore the signal: their run is ended here, and whatever they do later is ignored.
      for (const run of runs) run.run.interrupt(reason)
    }
    const interrupted = new Set(report.interrupted)
    report.finished = runs.map((run) => run.runId).filter((runId) => !interrupted.has(runId))
    return report
  }

  #rearm(): void {
    if (this.#stopping) return
    let soonest: number | undefined
    for (const { next } of this.#armed.values()) {
      if (next !== undefined && (soonest === undefined || next < soonest)) soonest = next
    }
    if (soonest === undefined) this.#alarm.cancel()
    else this.#alarm.set(soonest, () => this.#fireDue())
  }

  #fireDue(): void {
    const now = this.#clock.now()
    const due = [...this.#armed.values()]
      .filter((armed) => armed.next !== undefined && armed.next <= now)
      .sort((a, b) => a.next! - b.next! || compare(a.schedule.name, b.schedule.name))
    for (const armed of due) {
      armed.lastSlot = armed.next
      // From the wall clock, not from the slot: a run noticed late (suspend) fires once, not once per missed slot.
      armed.next = nextSlot(armed.schedule, Math.max(now, armed.lastSlot!))
      if (!this.#stopping) this.#start(armed.job, armed.schedule)
    }
    this.#rearm()
  }

  #start(job: ScheduledJob, schedule: Schedule): { runId: string; done: Promise<EndStatus> } {
    const run = this.#runLog.start({
      jobId: job.id,
      jobName: job.name,
      scheduleId: scheduleId(job.id, schedule.name),
      scheduleName: schedule.name,
      mode: job.spec.mode,
    })
    const current = this.#running.get(job.id)
    if (current !== undefined) {
      const status = run.fail(
        new RunError(
          'JOB_ALREADY_RUNNING',
          `the job ${JSON.stringify(job.name)} (${job.id}) is already running: run ${current.runId} (schedule ${JSON.stringify(current.scheduleName)}) has not finished`,
        ),
      )
      return { runId: run.runId, done: Promise.resolve(status ?? 'failure') }
    }
    const controller = new AbortController()
    const done = this.#execute(job, schedule, run, controller.signal).finally(() => this.#running.delete(job.id))
    this.#running.set(job.id, { runId: run.runId, scheduleName: schedule.name, run, controller, done })
    return { runId: run.runId, done }
  }

  async #execute(job: ScheduledJob, schedule: Schedule, run: TaskHandle, signal: AbortSignal): Promise<EndStatus> {
    try {
      await this.#runJob(job, schedule, run, signal)
      run.succeed()
    } catch (error) {
      run.fail(error)
    }
    return run.status === 'pending' ? 'interrupted' : run.status
  }

  /** Whether `promise` settled within `ms` on the injected clock. */
  async #within(promise: Promise<unknown>, ms: number): Promise<boolean> {
    let cancel: (() => void) | undefined
    const timedOut = new Promise<false>((resolve) => {
      cancel = this.#clock.setTimeout(() => resolve(false), ms)
    })
    try {
      return await Promise.race([promise.then(() => true), timedOut])
    } finally {
      cancel?.()
    }
  }
}

function sameTiming(a: Schedule, b: Schedule): boolean {
  return a.cron === b.cron && a.timezone === b.timezone
}

/** The first slot strictly after `from`, or undefined when the expression never fires again. */
function nextSlot(schedule: Schedule, from: number): number | undefined {
  try {
    return nextRuns(schedule, 1, new Date(from))[0]?.getTime()
  } catch {
    return undefined
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
