import type { IncomingMessage, ServerResponse } from 'node:http'

export type HttpHandler = (request: IncomingMessage, response: ServerResponse, url: URL) => void | Promise<void>

interface Route {
  readonly method: string
  readonly prefix: string
  readonly handler: HttpHandler
}

/**
 * Routes like XAPI's HTTP server: per HTTP method, the registered path prefix that is the longest
 * prefix of the request path wins (so `/export_raw_vdi/` goes to `/export_raw_vdi`, not `/export`).
 * A route registered for `*` answers every method.
 */
export class HttpRouter {
  readonly #routes: Route[] = []

  register(method: string, prefix: string, handler: HttpHandler): void {
    const upper = method.toUpperCase()
    if (this.#routes.some((route) => route.method === upper && route.prefix === prefix)) {
      throw new Error(`a handler for ${upper} ${prefix} is already registered`)
    }
    this.#routes.push({ method: upper, prefix, handler })
  }

  resolve(method: string, pathname: string): HttpHandler | undefined {
    const upper = method.toUpperCase()
    let best: Route | undefined
    for (const route of this.#routes) {
      if (route.method !== upper && route.method !== '*') continue
      if (!pathname.startsWith(route.prefix)) continue
      if (best === undefined || route.prefix.length > best.prefix.length) best = route
    }
    return best?.handler
  }
}
