import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { readXva } from '../../disk/xva/xva-reader'

/**
 * The bytes of a stored XVA, checked on the way through: every chunk against its hash and the tar's
 * end marker (`readXva`), and the whole file against its `.xva.checksum` when there is one. The
 * bytes pass unchanged (suitable for XAPI's `PUT /import`); a problem destroys the stream with the
 * error, so an import fed by it fails instead of creating a VM from damaged data. Memory: one chunk
 * in flight plus `readXva`'s one XVA chunk.
 */
export function checkedXvaStream(source: Readable, options: { name: string; md5?: string | undefined }): Readable {
  return Readable.from(checkedChunks(source, options), { objectMode: false })
}

async function* checkedChunks(source: Readable, options: { name: string; md5?: string | undefined }) {
  const channel = new Handoff()
  let sawEnd = false
  let verifierDone = false
  const verifying = (async () => {
    try {
      for await (const item of readXva(channel, { name: options.name, kind: 'file' })) {
        if (item.type === 'end') sawEnd = true
      }
    } finally {
      verifierDone = true
      channel.close()
    }
  })()
  // Its failure is raised below, where the consumer sees it; never as an unhandled rejection.
  verifying.catch(() => {})
  const md5 = createHash('md5')
  try {
    for await (const chunk of source) {
      const buffer = chunk as Buffer
      md5.update(buffer)
      // After the end marker the rest (padding) is not the verifier's business.
      if (!verifierDone) await Promise.race([channel.push(buffer), verifying])
      yield buffer
    }
    channel.end()
    await verifying
    if (!sawEnd) throw new Error(`${options.name}: the XVA ended before its tar end marker: the file is incomplete`)
    const digest = md5.digest('hex')
    if (options.md5 !== undefined && options.md5.toLowerCase() !== digest) {
      throw new Error(
        `${options.name}: its MD5 is ${digest} but its .checksum file says ${options.md5}: the file was changed or damaged after it was written`,
      )
    }
  } finally {
    channel.close()
    source.destroy()
  }
}

/** One-chunk handoff between the byte pump and the verifier, so neither buffers the file. */
class Handoff implements AsyncIterable<Buffer> {
  private chunk: Buffer | undefined
  private finished = false
  private closed = false
  private wakeConsumer: (() => void) | undefined
  private wakeProducer: (() => void) | undefined

  async push(chunk: Buffer): Promise<void> {
    while (this.chunk !== undefined && !this.closed) await new Promise<void>((resolve) => (this.wakeProducer = resolve))
    if (this.closed) return
    this.chunk = chunk
    this.wake()
  }

  end(): void {
    this.finished = true
    this.wake()
  }

  /** The consumer stopped: producers are released and further chunks dropped. */
  close(): void {
    this.closed = true
    this.finished = true
    this.wake()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.chunk !== undefined) {
          const chunk = this.chunk
          this.chunk = undefined
          this.wake()
          yield chunk
          continue
        }
        if (this.finished) return
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve))
      }
    } finally {
      this.close()
    }
  }

  private wake(): void {
    const consumer = this.wakeConsumer
    const producer = this.wakeProducer
    this.wakeConsumer = undefined
    this.wakeProducer = undefined
    consumer?.()
    producer?.()
  }
}
