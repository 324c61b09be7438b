import { constants } from 'node:os'

/**
 * Error codes a remote operation can fail with. POSIX names where one exists, so callers can test
 * `error.code` the same way for every backend (and the same way XO does: ENOENT, ELOCKED, ENOSPC).
 */
export type RemoteErrorCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EACCES'
  | 'EROFS'
  | 'ENOSPC'
  | 'ELOCKED'
  | 'ECOMPROMISED'
  | 'ECONNREFUSED'
  | 'EHOSTUNREACH'
  | 'ETIMEDOUT'
  | 'ECONNRESET'
  | 'ELOGON'
  | 'ENOSHARE'
  | 'EINVALID'
  | 'EMOUNT'
  | 'EUNSUPPORTED'
  | 'EABORTED'
  | 'EIO'

/** Errors worth retrying: the same call may succeed a moment later. */
const transientCodes: ReadonlySet<string> = new Set([
  // A server restarting refuses connections for a moment; a wrong port is caught at connect time.
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EAGAIN',
  'EBUSY',
  'ENOTCONN',
])

export interface RemoteErrorDetails {
  /** The remote's display name (never a URL with credentials). */
  remote: string
  path?: string
  cause?: unknown
  /** The operating system's code when it differs from `code` (e.g. EDQUOT reported as ENOSPC). */
  systemCode?: string
}

export class RemoteError extends Error {
  override readonly name = 'RemoteError'
  readonly remote: string
  readonly path: string | undefined
  readonly systemCode: string | undefined

  constructor(
    readonly code: RemoteErrorCode,
    message: string,
    details: RemoteErrorDetails,
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.remote = details.remote
    this.path = details.path
    this.systemCode = details.systemCode
  }

  /** True when retrying the same operation may succeed (a dropped connection, a busy server). */
  get transient(): boolean {
    return transientCodes.has(this.systemCode ?? this.code)
  }
}

export function isRemoteError(error: unknown, code?: RemoteErrorCode): error is RemoteError {
  return error instanceof RemoteError && (code === undefined || error.code === code)
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]))

/** The symbolic name of an errno value ("ENOENT" for 2), or "errno <n>" when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`
}

/** The error code of a Node.js system error or a RemoteError, if it has one. */
export function systemCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined
  const { code } = error as { code: unknown }
  return typeof code === 'string' ? code : undefined
}

export interface OperationContext {
  remote: string
  /** What was being done, as a verb phrase: "read", "rename … to …", "list". */
  operation: string
  path?: string
}

/**
 * Turns a system error (Node's fs, or an errno from libsmbclient) into a RemoteError whose message
 * says what failed, where, why, and what to do. RemoteErrors pass through unchanged.
 */
export function toRemoteError(error: unknown, context: OperationContext): RemoteError {
  if (error instanceof RemoteError) return error
  const systemCode = systemCodeOf(error) ?? 'EIO'
  const [code, why] = explain(systemCode)
  const target = context.path === undefined ? '' : ` "${context.path}"`
  const detail = error instanceof Error && systemCodeOf(error) === undefined ? ` (${error.message})` : ''
  return new RemoteError(code, `cannot ${context.operation}${target} on remote ${context.remote}: ${why}${detail}`, {
    remote: context.remote,
    path: context.path,
    cause: error,
    systemCode,
  })
}

function explain(systemCode: string): [RemoteErrorCode, string] {
  switch (systemCode) {
    case 'ENOENT':
      return ['ENOENT', 'no such file or directory']
    case 'EEXIST':
      return ['EEXIST', 'it already exists']
    case 'ENOTDIR':
      return ['ENOTDIR', 'a part of the path is a file, not a directory']
    case 'EISDIR':
      return ['EISDIR', 'it is a directory']
    case 'ENOTEMPTY':
      return ['ENOTEMPTY', 'the directory is not empty']
    case 'EACCES':
    case 'EPERM':
      return [
        'EACCES',
        "permission denied: check the permissions of the remote's directory for the user xcp-backup uses",
      ]
    case 'EROFS':
      return ['EROFS', 'the remote is read-only: check how it is mounted or shared']
    case 'ENOSPC':
    case 'EDQUOT':
      return ['ENOSPC', 'no space left on the remote (or the quota is exhausted)']
    case 'ECONNREFUSED':
      return ['ECONNREFUSED', 'connection refused: check that the server is running and the port is right']
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return ['EHOSTUNREACH', 'the host cannot be reached: check the host name and the network']
    case 'ETIMEDOUT':
      return ['ETIMEDOUT', 'the server did not answer in time']
    case 'ECONNRESET':
    case 'ECONNABORTED':
    case 'EPIPE':
    case 'ENOTCONN':
      return ['ECONNRESET', 'the connection to the server was lost']
    default:
      return ['EIO', `input/output error (${systemCode})`]
  }
}

/** "1.5 GiB (1610612736 bytes)": sizes in messages people read, exact bytes for those who compute. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]} (${bytes} bytes)`
}
