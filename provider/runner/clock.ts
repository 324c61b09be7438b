/**
 * Time as the runner sees it, injected so schedules, grace periods and simulations can be driven by a
 * test clock without sleeping. `now()` is the wall clock (what cron reads); timers count elapsed time
 * (what setTimeout counts), and the two drift apart when the wall clock is stepped (NTP, suspend).
 */
export interface Clock {
  /** Wall-clock time, in ms since the epoch. */
  now(): number
  /** Calls `callback` once after about `ms` of elapsed time; returns a function that cancels it. */
  setTimeout(callback: () => void, ms: number): Cancel
}

export type Cancel = () => void

/** The real clock: `Date.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms)
    return () => clearTimeout(timer)
  },
}

/** Resolves after `ms` on `clock`; rejects with the signal's reason when it is aborted first. */
export function delay(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => {
      cancel()
      reject(signal!.reason)
    }
    const cancel = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
