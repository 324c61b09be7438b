import type { ServerResponse } from 'node:http'

/**
 * Responses as XAPI's HTTP server writes them (`http_svr.ml`): every response closes the connection,
 * bodies of disk transfers run until the connection closes (no length, no chunked encoding), and an
 * error raised after the 200 status was sent becomes XAPI's 500 page written into the body.
 */

const NO_CACHE = { connection: 'close', 'cache-control': 'no-cache, no-store' }

/** XAPI's 500 page (`response_internal_error`). */
export function internalErrorBody(extra?: string): string {
  return `<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.${extra === undefined ? '' : `<h1> Additional information </h1>${escapeHtml(extra)}`}</body></html>`
}

function escapeHtml(text: string): string {
  return text.replace(/[<>&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&amp;'))
}

const PAGES: Readonly<Record<number, { reason: string; body: () => string }>> = {
  400: {
    reason: 'Bad Request',
    body: () =>
      '<html><body><h1>HTTP 400 bad request</h1>The HTTP request was malformed. Please correct and retry.</body></html>',
  },
  401: {
    reason: 'Unauthorised',
    body: () => '<html><body><h1>HTTP 401 unauthorised</h1>Please check your credentials and retry.</body></html>',
  },
  403: {
    reason: 'Forbidden',
    body: () => '<html><body><h1>HTTP 403 forbidden</h1>Access to the requested resource is forbidden.</body></html>',
  },
  404: { reason: 'Not Found', body: () => '<html><body><h1>HTTP 404 not found</h1></body></html>' },
  500: { reason: 'Internal Error', body: () => internalErrorBody() },
}

/** An error answer before any 200 was sent. */
export function sendErrorStatus(response: ServerResponse, status: 400 | 401 | 403 | 404 | 500, extra?: string): void {
  if (response.headersSent) return
  const page = PAGES[status]!
  const body = status === 500 ? internalErrorBody(extra) : page.body()
  response.writeHead(status, page.reason, {
    'content-type': 'text/html',
    ...NO_CACHE,
    'content-length': String(Buffer.byteLength(body)),
    ...(status === 401 ? { 'www-authenticate': 'Basic realm="xapi"' } : {}),
  })
  response.end(body)
}

/** The 200 of a disk transfer, sent at once; the body then runs until the connection closes. */
export function startTransfer(response: ServerResponse, headers: Readonly<Record<string, string>>): void {
  // No Content-Length and no chunked encoding: the body ends when the connection closes, as XAPI's does.
  response.useChunkedEncodingByDefault = false
  response.writeHead(200, 'OK', { ...NO_CACHE, ...headers })
  response.flushHeaders()
}

/** What XAPI's server writes when a handler fails after its 200: a whole 500 response inside the body. */
export function errorResponseInBody(extra?: string): Buffer {
  const body = internalErrorBody(extra)
  return Buffer.from(
    `HTTP/1.1 500 Internal Error\r\ncontent-type: text/html\r\nconnection: close\r\ncache-control: no-cache, no-store\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

/** Ends the response, resolving once the last byte was handed to the connection. */
export function endResponse(response: ServerResponse, last?: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (response.writableEnded || response.destroyed) {
      resolve()
      return
    }
    response.end(last ?? Buffer.alloc(0), () => resolve())
    response.once('close', () => resolve())
  })
}

/** Resets the TCP connection (the client sees ECONNRESET), as a network failure would. */
export function cutConnection(response: ServerResponse): void {
  const socket = response.socket
  if (socket !== null && !socket.destroyed) socket.resetAndDestroy()
  else response.destroy()
}
