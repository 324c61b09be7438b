import { randomInt } from 'node:crypto'
import { nameBasedUuid } from '../common/uuid'

export { nameBasedUuid }

/**
 * Identifiers the runner hands out. Run ids sort by time like XO's task ids; schedule ids are derived
 * from names so they never change for a given job and schedule (snapshots and remote backups carry
 * them in `xo:backup:schedule`, and retention counts backups per schedule id).
 */

/** Width of a run id's time part: base 36 of ms since the epoch fits 9 digits until the year 5188. */
const TIME_DIGITS = 9
const RANDOM_DIGITS = 8
const RUN_ID = /^[0-9a-z]{9}-[0-9a-z]{8}$/

let last = { time: -1, random: 0 }
const RANDOM_SPACE = 36 ** RANDOM_DIGITS

/**
 * A new run id: time in base 36, zero-padded so ids sort by time, then random digits. Ids made in the
 * same millisecond by this process take the previous random part plus one (as monotonic ULIDs do), so
 * they also sort in the order they were made.
 */
export function newRunId(now: number = Date.now()): string {
  const time = Math.floor(now)
  let random: number
  if (time === last.time && last.random + 1 < RANDOM_SPACE) {
    random = last.random + 1
  } else {
    random = 0
    // Half the space, so increments within the millisecond cannot overflow in practice.
    for (let i = 0; i < RANDOM_DIGITS - 1; i++) random = random * 36 + randomInt(36)
    random = random * 18 + randomInt(18)
  }
  last = { time, random }
  return `${time.toString(36).padStart(TIME_DIGITS, '0')}-${random.toString(36).padStart(RANDOM_DIGITS, '0')}`
}

export function isRunId(value: string): boolean {
  return RUN_ID.test(value)
}

/** When a run with this id started (ms since the epoch), from its time part. */
export function runIdTime(runId: string): number {
  return Number.parseInt(runId.slice(0, TIME_DIGITS), 36)
}

/**
 * Namespace of xcp-backup's schedule ids (a random UUID chosen once; changing it would change every
 * schedule id and orphan every backup's retention).
 */
export const SCHEDULE_ID_NAMESPACE = 'a3d4b1e6-5c0f-4f7e-9b2a-6e1d8c3f0b57'

/** The schedule id of a job's schedule: a name-based (version 5, SHA-1) UUID of `${jobId}/${scheduleName}`. */
export function scheduleId(jobId: string, scheduleName: string): string {
  return nameBasedUuid(SCHEDULE_ID_NAMESPACE, `${jobId}/${scheduleName}`)
}
