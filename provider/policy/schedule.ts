import { CronExpressionParser } from 'cron-parser'
import { expandCron } from './cron'
import type { Schedule } from './job-schedule'

/**
 * When schedules fire. Times are real instants (Date); the cron expression is read in the schedule's time
 * zone. On the day clocks go forward, a local time that does not exist (02:30 in Europe/Paris) fires one
 * hour later (03:30 local, still 24 hours after the previous day's run); on the day they go back, a local
 * time that happens twice fires once, the first time. So a daily run is 23 or 25 hours apart around a
 * change, as the wall clock says; sub-hourly schedules keep firing at their real-time pace.
 */

export type ScheduleTiming = Pick<Schedule, 'cron' | 'timezone'>

/** A schedule as the job-level helpers need it; `enabled` defaults to true. */
export type NamedSchedule = Pick<Schedule, 'name' | 'cron' | 'timezone'> & Partial<Pick<Schedule, 'enabled'>>

const DAY = 86_400_000
const HOUR = 3_600_000

/** The next `count` times the schedule fires strictly after `from`. */
export function nextRuns(schedule: ScheduleTiming, count: number, from: Date = new Date()): Date[] {
  return runsBetween(schedule, from.getTime(), Number.POSITIVE_INFINITY, count)
}

export interface JobRun {
  schedule: string
  at: Date
}

/** The next `count` runs of a job, all enabled schedules merged in time order (ties by schedule name). */
export function nextJobRuns(schedules: readonly NamedSchedule[], count: number, from: Date = new Date()): JobRun[] {
  return schedules
    .filter((schedule) => schedule.enabled !== false)
    .flatMap((schedule) => nextRuns(schedule, count, from).map((at) => ({ schedule: schedule.name, at })))
    .sort((a, b) => a.at.getTime() - b.at.getTime() || (a.schedule < b.schedule ? -1 : 1))
    .slice(0, count)
}

export interface RunInterval {
  /** Shortest real time between two consecutive runs, in ms; 0 when two schedules fire together. */
  ms: number
  /** The two runs that are that close, and the schedules they belong to. */
  first: JobRun
  second: JobRun
}

/**
 * Runs looked at per schedule: a schedule that fires often shows its pace within a few hundred runs, and
 * one that fires rarely is followed for the whole year. (cron-parser takes 0.1-0.4 ms per run.)
 */
const RUNS_AHEAD = 400
/** Runs looked at around each clock change the first look did not reach. */
const RUNS_AROUND_CHANGE = 200

/**
 * The shortest time between two consecutive runs of a job (all enabled schedules: XO refuses a run while
 * the same job is running, whichever schedule started it). Looks at the year after `from`, including the
 * days clocks change in each schedule's time zone; a schedule firing less than twice a year is followed
 * for up to 9 years (29 February). Undefined when the job fires less than twice.
 */
export function minimumInterval(schedules: readonly NamedSchedule[], from: Date = new Date()): RunInterval | undefined {
  const enabled = schedules.filter((schedule) => schedule.enabled !== false)
  const start = from.getTime()
  const end = start + 366 * DAY
  const runs = new Map<string, JobRun>()
  const collect = (schedule: NamedSchedule, after: number, before: number, limit: number): Date[] => {
    const found = runsBetween(schedule, after, before, limit)
    for (const at of found) runs.set(`${schedule.name}\0${at.getTime()}`, { schedule: schedule.name, at })
    return found
  }
  for (const schedule of enabled) {
    const ahead = collect(schedule, start, end, RUNS_AHEAD)
    const reached = ahead.length < RUNS_AHEAD ? end : ahead.at(-1)!.getTime()
    for (const change of clockChanges(schedule.timezone, start, end)) {
      if (change + 26 * HOUR <= reached) continue
      // A daily run needs a day on each side of the change; a frequent one needs the minutes around it.
      collect(schedule, Math.max(start, change - 26 * HOUR), change + 26 * HOUR, RUNS_AROUND_CHANGE)
      collect(schedule, Math.max(start, change - HOUR), change + HOUR, RUNS_AROUND_CHANGE)
    }
  }
  if (runs.size < 2) {
    for (const schedule of enabled) collect(schedule, start, start + 9 * 366 * DAY, 2)
  }
  const sorted = [...runs.values()].sort((a, b) => a.at.getTime() - b.at.getTime())
  let best: RunInterval | undefined
  for (let i = 1; i < sorted.length; i++) {
    const ms = sorted[i]!.at.getTime() - sorted[i - 1]!.at.getTime()
    if (best === undefined || ms < best.ms) best = { ms, first: sorted[i - 1]!, second: sorted[i]! }
  }
  return best
}

/**
 * The preflight warning for a job whose runs come closer together than a run lasts, or undefined. A run
 * that starts while the previous one is still going fails with "the job is already running".
 */
export function overlapWarning(
  schedules: readonly NamedSchedule[],
  lastRunMs: number,
  from: Date = new Date(),
): string | undefined {
  const interval = minimumInterval(schedules, from)
  if (interval === undefined || interval.ms >= lastRunMs) return undefined
  const { first, second } = interval
  const when = `${first.at.toISOString()} and ${second.at.toISOString()}`
  const what =
    first.schedule === second.schedule
      ? `schedule ${JSON.stringify(first.schedule)} fires as little as ${describeDuration(interval.ms)} apart (${when})`
      : interval.ms === 0
        ? `schedules ${JSON.stringify(first.schedule)} and ${JSON.stringify(second.schedule)} fire at the same time (${first.at.toISOString()})`
        : `schedules ${JSON.stringify(first.schedule)} and ${JSON.stringify(second.schedule)} fire as little as ${describeDuration(interval.ms)} apart (${when})`
  return `${what}, but the last run took ${describeDuration(lastRunMs)}: runs starting while one is going will fail with "the job is already running". Space the runs out or make the job faster.`
}

/** "5 minutes", "1 hour 30 minutes", "2 days": for messages. */
export function describeDuration(ms: number): string {
  const units: [number, string][] = [
    [DAY, 'day'],
    [HOUR, 'hour'],
    [60_000, 'minute'],
    [1_000, 'second'],
  ]
  const parts: string[] = []
  let rest = Math.round(ms / 1000) * 1000
  for (const [size, name] of units) {
    const n = Math.floor(rest / size)
    rest -= n * size
    if (n > 0 && parts.length < 2) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`)
  }
  return parts.length === 0 ? '0 seconds' : parts.join(' ')
}

function runsBetween(schedule: ScheduleTiming, after: number, before: number, limit: number): Date[] {
  const iterator = CronExpressionParser.parse(expandCron(schedule.cron), {
    tz: schedule.timezone,
    currentDate: new Date(after),
  })
  const runs: Date[] = []
  while (runs.length < limit) {
    const next = iterator.next().toDate()
    if (next.getTime() >= before) break
    runs.push(next)
  }
  return runs
}

/** Instants within [start, end) when the zone's UTC offset changes, to the minute. */
export function clockChanges(timezone: string, start: number, end: number): number[] {
  const changes: number[] = []
  let previous = start
  let previousOffset = utcOffset(timezone, previous)
  for (let t = start + 6 * HOUR; t < end + 6 * HOUR; t += 6 * HOUR) {
    const offset = utcOffset(timezone, t)
    if (offset !== previousOffset) {
      let low = previous
      let high = t
      while (high - low > 60_000) {
        const middle = low + Math.max(60_000, Math.floor((high - low) / 120_000) * 60_000)
        if (utcOffset(timezone, middle) === previousOffset) low = middle
        else high = middle
      }
      if (high < end) changes.push(high)
      previousOffset = offset
    }
    previous = t
  }
  return changes
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>()

/** The zone's offset from UTC at an instant, as Intl names it ("GMT+02:00"). */
function utcOffset(timezone: string, at: number): string {
  let format = offsetFormats.get(timezone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, timeZoneName: 'longOffset' })
    offsetFormats.set(timezone, format)
  }
  return format.formatToParts(at).find((part) => part.type === 'timeZoneName')?.value ?? ''
}
