/** Serialises async critical sections (one SR's metadata changes, like SM's per-SR lock). */
export class Mutex {
  private tail: Promise<void> = Promise.resolve()

  run<T>(critical: () => Promise<T>): Promise<T> {
    const result = this.tail.then(critical)
    this.tail = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }
}
