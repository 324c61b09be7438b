/**
 * Sequential reads of exact byte counts from an async iterable of chunks (a Node stream, an HTTP body),
 * holding at most what one read asks for plus one source chunk.
 */
export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>
  private chunks: Buffer[] = []
  private buffered = 0
  private ended = false
  /** Bytes consumed so far (the offset of the next byte `read` returns). */
  position = 0

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source[Symbol.iterator]())
  }

  /** Total bytes received from the source so far (consumed or buffered). */
  get received(): number {
    return this.position + this.buffered
  }

  /** Reads exactly `length` bytes, or fewer only when the source ends first. */
  async read(length: number): Promise<Buffer> {
    await this.fill(length)
    return this.take(Math.min(length, this.buffered))
  }

  /** The next `length` bytes (fewer at the end) without consuming them. */
  async peek(length: number): Promise<Buffer> {
    await this.fill(length)
    const out = Buffer.alloc(Math.min(length, this.buffered))
    let filled = 0
    for (const chunk of this.chunks) {
      if (filled === out.length) break
      filled += chunk.copy(out, filled, 0, Math.min(chunk.length, out.length - filled))
    }
    return out
  }

  /** Everything not consumed yet, as chunks (for handing the rest of the source to a decompressor). */
  async *rest(): AsyncGenerator<Buffer> {
    while (this.buffered > 0 || (await this.pull())) {
      const chunk = this.chunks.shift()!
      this.buffered -= chunk.length
      this.position += chunk.length
      yield chunk
    }
  }

  /** Skips up to `length` bytes without keeping them; returns how many were skipped. */
  async skip(length: number): Promise<number> {
    let skipped = 0
    while (skipped < length) {
      if (this.buffered === 0 && !(await this.pull())) break
      const n = Math.min(length - skipped, this.buffered)
      this.take(n)
      skipped += n
    }
    return skipped
  }

  /** True when every byte of the source has been consumed. */
  async atEnd(): Promise<boolean> {
    await this.fill(1)
    return this.buffered === 0
  }

  /** Stops reading and releases the source (closes the underlying stream). */
  async close(): Promise<void> {
    this.chunks = []
    this.buffered = 0
    if (!this.ended) {
      this.ended = true
      await this.iterator.return?.()
    }
  }

  private async fill(length: number): Promise<void> {
    while (this.buffered < length && (await this.pull())) {
      // pull() appended a chunk
    }
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false
    for (;;) {
      const { value, done } = await this.iterator.next()
      if (done) {
        this.ended = true
        return false
      }
      if (value.length === 0) continue
      const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length)
      this.chunks.push(chunk)
      this.buffered += chunk.length
      return true
    }
  }

  private take(length: number): Buffer {
    this.position += length
    this.buffered -= length
    const first = this.chunks[0]
    if (first !== undefined && first.length >= length) {
      if (first.length === length) this.chunks.shift()
      else this.chunks[0] = first.subarray(length)
      return first.subarray(0, length)
    }
    const out = Buffer.allocUnsafe(length)
    let filled = 0
    while (filled < length) {
      const chunk = this.chunks[0]!
      const n = Math.min(chunk.length, length - filled)
      chunk.copy(out, filled, 0, n)
      filled += n
      if (n === chunk.length) this.chunks.shift()
      else this.chunks[0] = chunk.subarray(n)
    }
    return out
  }
}

function toAsync(iterator: Iterator<Uint8Array>): AsyncIterator<Uint8Array> {
  return {
    next: async () => iterator.next(),
    return: async () => iterator.return?.() ?? { done: true, value: undefined },
  }
}
