import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { HttpRouter } from './router'

export interface ListeningServer {
  readonly server: Server
  readonly host: string
  readonly port: number
  /** Stops accepting connections and destroys the open ones. */
  close(): Promise<void>
}

/** Serves `router` on one `node:http` server. Unrouted requests get 404; handler crashes get 500. */
export function listen(
  router: HttpRouter,
  options: { host: string; port: number; log: (line: string) => void },
): Promise<ListeningServer> {
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (request, response) => {
    const url = new URL(request.url ?? '/', 'http://simulator.invalid')
    const handler = router.resolve(request.method ?? 'GET', url.pathname)
    if (handler === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' })
      response.end(`no handler for ${request.method} ${url.pathname}\n`)
      return
    }
    Promise.resolve()
      .then(() => handler(request, response, url))
      .catch((error: unknown) => {
        options.log(
          `HTTP ${request.method} ${url.pathname} failed: ${error instanceof Error ? error.stack : String(error)}`,
        )
        if (!response.headersSent) {
          response.writeHead(500, { 'content-type': 'text/plain', connection: 'close' })
          response.end('internal error\n')
        } else {
          response.destroy()
        }
      })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      const address = server.address() as AddressInfo
      resolve({
        server,
        host: options.host,
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })
}
