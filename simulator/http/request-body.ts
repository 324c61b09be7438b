import type { IncomingMessage } from 'node:http'

/**
 * A request body as an async iterable of chunks that never loses data when the client closes the
 * connection: the xen-api client's 1 PiB upload hack sends the data and then destroys the socket, and
 * Node destroys the request stream at that moment, dropping what its own buffer still holds. Chunks
 * are therefore taken from `data` events into a bounded queue (the request is paused while the queue
 * is full, which stops reading from the socket) and the body ends when the request ends or the
 * connection closes, after every byte received.
 */
export class RequestBody implements AsyncIterable<Buffer> {
  readonly #queue: Buffer[] = []
  #queued = 0
  #ended = false
  /** True once the connection closed before the declared end of the body. */
  cut = false
  /** Bytes handed to the consumer so far. */
  consumed = 0
  #wake: (() => void) | undefined

  constructor(
    private readonly request: IncomingMessage,
    private readonly highWaterMark = 4 * 2 ** 20,
  ) {
    request.on('data', (chunk: Buffer) => this.#take(chunk))
    request.on('end', () => this.#finish(false))
    request.on('aborted', () => this.#finish(true))
    request.on('error', () => this.#finish(true))
    request.on('close', () => this.#finish(!request.complete))
  }

  #take(chunk: Buffer): void {
    this.#queue.push(chunk)
    this.#queued += chunk.length
    if (this.#queued >= this.highWaterMark) this.request.pause()
    this.#notify()
  }

  #finish(cut: boolean): void {
    if (this.#ended) return
    // Chunks the request received while paused are still in its buffer when the connection closes: keep them.
    for (
      let chunk = this.request.read() as Buffer | null;
      chunk !== null;
      chunk = this.request.read() as Buffer | null
    ) {
      this.#queue.push(chunk)
      this.#queued += chunk.length
    }
    this.#ended = true
    this.cut = cut
    this.#notify()
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    while (true) {
      const chunk = this.#queue.shift()
      if (chunk !== undefined) {
        this.#queued -= chunk.length
        if (this.#queued < this.highWaterMark / 2 && !this.#ended) this.request.resume()
        this.consumed += chunk.length
        yield chunk
        continue
      }
      if (this.#ended) return
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }

  /** Resolves true once data is there to read, false when the body ended without any (a probe). */
  async hasData(): Promise<boolean> {
    while (this.#queue.length === 0 && !this.#ended) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
    return this.#queue.length > 0
  }

  /** Reads and discards the rest of the body (so the client sees the response after sending everything). */
  async drain(): Promise<void> {
    for await (const _chunk of this) {
      // discarded
    }
  }
}

/** The first `limit()` bytes of `source` (the limit may be set while reading: the end of a VHD is learnt from its BAT). */
export async function* limitedBytes(source: AsyncIterable<Buffer>, limit: () => number): AsyncGenerator<Buffer> {
  let position = 0
  for await (const chunk of source) {
    const remaining = limit() - position
    if (remaining <= 0) return
    const part = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk
    position += part.length
    yield part
    if (position >= limit()) return
  }
}
