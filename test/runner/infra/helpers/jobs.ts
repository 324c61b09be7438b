import type { ScheduleInput } from '../../../../provider/policy/job-schedule'
import { parsePolicy } from '../../../../provider/policy/validate'
import type { ScheduledJob } from '../../../../provider/runner/schedule'

/** A valid job (through the real policy schema) with the given schedules. */
export function makeJob(id: string, schedules: Omit<ScheduleInput, 'exportRetention'>[], name = id): ScheduledJob {
  const spec = parsePolicy('BackupJob', {
    name,
    mode: 'delta',
    vms: { select: 'explicit', list: ['web-1'] },
    remotes: ['nas'],
    schedules: schedules.map((schedule) => ({ exportRetention: 7, ...schedule })),
  })
  return { id, name, spec }
}

/** A promise with its resolve and reject functions, for jobs that end when a test says so. */
export function deferred<T = void>(): {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (error: unknown) => void
} {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
