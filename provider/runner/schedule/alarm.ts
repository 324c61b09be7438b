import type { Cancel, Clock } from '../clock'

/**
 * Longest single timer the alarm arms. Timers count elapsed time while schedules are wall-clock
 * instants, so the alarm wakes at least this often to read the wall clock again: a clock stepped forward
 * (NTP, resume from suspend) is noticed within a minute, a clock stepped back does not fire early, and no
 * timer ever exceeds Node's limit of 2^31-1 ms (24.8 days), past which it would fire at once.
 */
export const MAX_TIMER_STEP_MS = 60_000

/** Calls back once the wall clock reaches an instant; setting it again replaces the previous one. */
export class WallClockAlarm {
  #cancel: Cancel | undefined

  constructor(private readonly clock: Clock) {}

  set(at: number, callback: () => void): void {
    this.cancel()
    const check = () => {
      const remaining = at - this.clock.now()
      if (remaining <= 0) {
        this.#cancel = undefined
        callback()
        return
      }
      this.#cancel = this.clock.setTimeout(check, Math.min(remaining, MAX_TIMER_STEP_MS))
    }
    // Never call back synchronously: callers set the alarm from code that is not ready for it.
    this.#cancel = this.clock.setTimeout(check, Math.max(0, Math.min(at - this.clock.now(), MAX_TIMER_STEP_MS)))
  }

  cancel(): void {
    this.#cancel?.()
    this.#cancel = undefined
  }
}
