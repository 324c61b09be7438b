import type { IncomingMessage } from 'node:http'

/** Too large a request body (the API endpoints are not for bulk data). */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`)
  }
}

/** Reads a whole (small) request body as UTF-8 text. */
export async function readTextBody(request: IncomingMessage, limit = 32 * 2 ** 20): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    const buffer = chunk as Buffer
    size += buffer.length
    if (size > limit) throw new BodyTooLargeError(limit)
    chunks.push(buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The host name a request was addressed to (the `Host` header without its port). */
export function requestHostName(request: IncomingMessage): string | undefined {
  const host = request.headers.host
  if (host === undefined) return undefined
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'))
  const colon = host.lastIndexOf(':')
  return colon === -1 ? host : host.slice(0, colon)
}
