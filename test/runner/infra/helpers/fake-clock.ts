import type { Cancel, Clock } from '../../../../provider/runner/clock'

/** Node clamps longer delays to 1 ms (with a TimeoutOverflowWarning): the fake clock does the same. */
const MAX_TIMER_MS = 2 ** 31 - 1

interface Timer {
  at: number
  seq: number
  callback: () => void
}

/**
 * A clock tests drive by hand: elapsed time only moves in `advance`, and the wall clock can be stepped
 * apart from it (`jump`) like NTP or a suspend would. Timers follow elapsed time, as Node's do.
 */
export class FakeClock implements Clock {
  #elapsed = 0
  #wallOffset: number
  #seq = 0
  #timers: Timer[] = []
  /** Every delay requested, for tests that check no timer was armed past Node's limit. */
  readonly requestedDelays: number[] = []

  constructor(start: Date | number) {
    this.#wallOffset = typeof start === 'number' ? start : start.getTime()
  }

  now(): number {
    return this.#elapsed + this.#wallOffset
  }

  setTimeout(callback: () => void, ms: number): Cancel {
    this.requestedDelays.push(ms)
    const delay = ms > MAX_TIMER_MS ? 1 : Math.max(1, Math.ceil(ms))
    const timer: Timer = { at: this.#elapsed + delay, seq: this.#seq++, callback }
    this.#timers.push(timer)
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer)
    }
  }

  /** Steps the wall clock without elapsed time passing. */
  jump(ms: number): void {
    this.#wallOffset += ms
  }

  /** Sets the wall clock to a date without elapsed time passing. */
  setWall(date: Date): void {
    this.#wallOffset = date.getTime() - this.#elapsed
  }

  get pendingTimers(): number {
    return this.#timers.length
  }

  /** Lets `ms` of time pass, firing due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.#elapsed + ms
    await settle()
    for (;;) {
      const next = this.#timers.reduce<Timer | undefined>(
        (first, timer) =>
          first === undefined || timer.at < first.at || (timer.at === first.at && timer.seq < first.seq)
            ? timer
            : first,
        undefined,
      )
      if (next === undefined || next.at > end) break
      this.#timers = this.#timers.filter((t) => t !== next)
      this.#elapsed = next.at
      next.callback()
      await settle()
    }
    this.#elapsed = end
    await settle()
  }

  /** Advances until the wall clock reads `date`. */
  async advanceTo(date: Date): Promise<void> {
    await this.advance(Math.max(0, date.getTime() - this.now()))
  }
}

/** Lets pending promise callbacks and I/O callbacks run (a few event-loop turns, no waiting on time). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
}
