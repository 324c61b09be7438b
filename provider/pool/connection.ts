import { createClient, type Xapi } from 'xen-api'

/** How to reach one pool. The password comes from Pulumi config secrets or the runner's config file. */
export interface PoolEndpoint {
  /** The name resources use to pick this pool when several are configured. */
  name: string
  url: string
  user: string
  password: string
  allowUnauthorized?: boolean
}

export class PoolConnectionError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly pool: string,
  ) {
    super(message)
  }
}

export interface ConnectOptions {
  /** Keep the object cache and tasks live (runner, drift); one-shot reads can skip it. */
  watchEvents?: boolean
  readOnly?: boolean
  /** Give up connecting after this long. */
  timeoutMs?: number
}

/**
 * Connects the real `xen-api` client to a pool master. Errors say which pool and why, never the password.
 */
export async function connectPool(endpoint: PoolEndpoint, options: ConnectOptions = {}): Promise<Xapi> {
  const xapi = createClient({
    url: endpoint.url,
    auth: { user: endpoint.user, password: endpoint.password },
    allowUnauthorized: endpoint.allowUnauthorized ?? false,
    readOnly: options.readOnly ?? false,
    watchEvents: options.watchEvents ?? true,
    // Errors would otherwise carry a stack of our own frames only; the client's are more useful.
    syncStackTraces: false,
  })
  const timeoutMs = options.timeoutMs ?? 30_000
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      xapi.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new PoolConnectionError(
                `pool "${endpoint.name}" (${endpoint.url}) did not answer within ${timeoutMs / 1000} s`,
                'POOL_TIMEOUT',
                endpoint.name,
              ),
            ),
          timeoutMs,
        )
      }),
    ])
    if (options.watchEvents ?? true) await xapi.objectsFetched
    return xapi
  } catch (error) {
    await xapi.disconnect().catch(() => undefined)
    throw describeConnectError(error, endpoint)
  } finally {
    clearTimeout(timer)
  }
}

function describeConnectError(error: unknown, endpoint: PoolEndpoint): Error {
  if (error instanceof PoolConnectionError) return error
  const code = (error as { code?: unknown }).code
  const where = `pool "${endpoint.name}" (${endpoint.url})`
  switch (code) {
    case 'SESSION_AUTHENTICATION_FAILED':
      return new PoolConnectionError(
        `${where} refused user "${endpoint.user}": check the pool password in the stack config or the runner config`,
        'SESSION_AUTHENTICATION_FAILED',
        endpoint.name,
      )
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return new PoolConnectionError(
        `${where} is unreachable (${String(code)}): check the URL and that the pool master is up`,
        String(code),
        endpoint.name,
      )
    default: {
      const message = error instanceof Error ? error.message : String(error)
      return new PoolConnectionError(
        `${where}: ${endpoint.password === '' ? message : message.replaceAll(endpoint.password, '***')}`,
        typeof code === 'string' ? code : 'POOL_CONNECTION_FAILED',
        endpoint.name,
      )
    }
  }
}
