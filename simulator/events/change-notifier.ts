import type { Database } from '../db/database'

export type WaitOutcome = 'changed' | 'timeout' | 'aborted'

/**
 * Wakes long-polling `event.from` calls when the database changes. Wake-ups are deferred to the next
 * turn of the event loop so that the changes of one API call arrive together, as one batch.
 */
export class ChangeNotifier {
  readonly #waiters = new Set<{ after: number; wake: (outcome: WaitOutcome) => void }>()
  #scheduled = false

  constructor(private readonly db: Database) {
    db.onChange(() => this.#schedule())
  }

  /** Resolves once the database generation is past `after`, the timeout elapses, or `signal` aborts. */
  waitForChangeAfter(after: number, timeoutMs: number, signal: AbortSignal): Promise<WaitOutcome> {
    if (this.db.generation > after) return Promise.resolve('changed')
    if (signal.aborted) return Promise.resolve('aborted')
    return new Promise((resolve) => {
      const waiter = {
        after,
        wake: (outcome: WaitOutcome) => {
          this.#waiters.delete(waiter)
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
          resolve(outcome)
        },
      }
      const onAbort = () => waiter.wake('aborted')
      const timer = setTimeout(() => waiter.wake('timeout'), Math.max(0, timeoutMs))
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiters.add(waiter)
    })
  }

  /** How many calls are waiting (for tests and the control API). */
  get waiting(): number {
    return this.#waiters.size
  }

  #schedule(): void {
    if (this.#scheduled || this.#waiters.size === 0) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      const generation = this.db.generation
      for (const waiter of [...this.#waiters]) if (generation > waiter.after) waiter.wake('changed')
    })
  }
}
