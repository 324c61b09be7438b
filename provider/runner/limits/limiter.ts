/**
 * A counting semaphore with a FIFO queue and a peak counter. Slots are granted strictly in the order
 * they were asked for: a waiter never overtakes an earlier one, even one that asks for a lower limit.
 * Acquisition honours an AbortSignal. Tests and benchmarks read `peak`.
 */
export type Release = () => void

export interface AcquireOptions {
  signal?: AbortSignal
  /**
   * This caller's own limit on the shared count, for limits that are per pool but set per job (a job with
   * snapshotConcurrency 1 waits while one snapshot of any job runs on the pool). Default: the limiter's.
   * 0: unlimited.
   */
  limit?: number
}

interface Waiter {
  limit: number
  grant: () => void
}

export class Limiter {
  #active = 0
  #peak = 0
  readonly #queue: Waiter[] = []

  /** `limit` 0 means unlimited. */
  constructor(
    readonly name: string,
    readonly limit: number,
  ) {
    if (!Number.isInteger(limit) || limit < 0)
      throw new RangeError(`${name}: limit must be a whole number ≥ 0 (0: unlimited)`)
  }

  /** Slots held now. */
  get active(): number {
    return this.#active
  }

  /** Most slots ever held at once. */
  get peak(): number {
    return this.#peak
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#queue.length
  }

  resetPeak(): void {
    this.#peak = this.#active
  }

  /** Waits for a slot; resolves with the function that gives it back (calling it twice is harmless). */
  acquire(options: AcquireOptions = {}): Promise<Release> {
    const { signal } = options
    const limit = effective(options.limit ?? this.limit)
    return new Promise<Release>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason)
        return
      }
      const onAbort = () => {
        const index = this.#queue.indexOf(waiter)
        if (index === -1) return
        this.#queue.splice(index, 1)
        reject(signal!.reason)
        // The head may have been the one blocking the others.
        this.#pump()
      }
      const waiter: Waiter = {
        limit,
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve(this.#take())
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#queue.push(waiter)
      this.#pump()
    })
  }

  /** Runs `work` holding a slot, and gives the slot back however it ends. */
  async run<T>(work: () => Promise<T>, options: AcquireOptions = {}): Promise<T> {
    const release = await this.acquire(options)
    try {
      return await work()
    } finally {
      release()
    }
  }

  #take(): Release {
    this.#active++
    if (this.#active > this.#peak) this.#peak = this.#active
    let released = false
    return () => {
      if (released) return
      released = true
      this.#active--
      this.#pump()
    }
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#active < this.#queue[0]!.limit) {
      this.#queue.shift()!.grant()
    }
  }
}

function effective(limit: number): number {
  return limit === 0 ? Number.POSITIVE_INFINITY : limit
}
