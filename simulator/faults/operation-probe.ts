/** Calls seen, running now, and the most ever running at once, for one method. */
export interface OperationStats {
  readonly calls: number
  readonly inFlight: number
  readonly peak: number
}

/**
 * Counts operations in flight per method (name without `Async.`), from the moment the simulator
 * starts executing them to the moment they finish (for `Async.` calls: while their task runs).
 * Tests use the peaks to check concurrency limits ("never more than 2 VM.snapshot at once").
 */
export class OperationProbe {
  readonly #stats = new Map<string, { calls: number; inFlight: number; peak: number }>()

  /** Records the start of an operation; call the returned function when it ends. */
  begin(method: string): () => void {
    let stats = this.#stats.get(method)
    if (stats === undefined) {
      stats = { calls: 0, inFlight: 0, peak: 0 }
      this.#stats.set(method, stats)
    }
    const current = stats
    current.calls++
    current.inFlight++
    current.peak = Math.max(current.peak, current.inFlight)
    let ended = false
    return () => {
      if (ended) return
      ended = true
      current.inFlight--
    }
  }

  stats(method: string): OperationStats {
    const stats = this.#stats.get(method)
    return stats === undefined ? { calls: 0, inFlight: 0, peak: 0 } : { ...stats }
  }

  all(): Record<string, OperationStats> {
    return Object.fromEntries([...this.#stats].map(([method, stats]) => [method, { ...stats }]))
  }

  /** Forgets calls and peaks; operations still running keep being counted. */
  reset(): void {
    for (const [method, stats] of this.#stats) {
      if (stats.inFlight === 0) this.#stats.delete(method)
      else {
        stats.calls = 0
        stats.peak = stats.inFlight
      }
    }
  }
}
