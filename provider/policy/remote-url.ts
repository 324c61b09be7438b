import { z } from 'zod'

/**
 * Where a remote keeps its backups, parsed from the URL users write. Credentials are never part of
 * it: the URL is stored in the pool in plain text, the password goes into a XAPI secret.
 *
 *   file:///var/backups                    a local directory or an already mounted NFS/SMB export
 *   nfs://nas.lan:/export/backups          mounted by the runner (XO's form, optional port: nas:2049:/export)
 *   smb://[domain;]user@host[:port]/share[/path]
 *   s3://host[:port]/bucket[/path][?region=eu-west-1]     (s3+http:// for plain HTTP, e.g. MinIO)
 */
const host = z.string().min(1)
const port = z.number().int().min(1).max(65535).optional()

export const remoteLocationSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('file'), path: z.string().startsWith('/') }),
  z.object({ type: z.literal('nfs'), host, port, exportPath: z.string().startsWith('/') }),
  z.object({
    type: z.literal('smb'),
    host,
    port,
    share: z.string().min(1),
    path: z.string(),
    domain: z.string().optional(),
    username: z.string().min(1),
  }),
  z.object({
    type: z.literal('s3'),
    protocol: z.enum(['https', 'http']),
    host,
    port,
    bucket: z.string().min(1),
    path: z.string(),
    region: z.string().optional(),
  }),
])

export type RemoteLocation = z.infer<typeof remoteLocationSchema>
export type RemoteType = RemoteLocation['type']

export class RemoteUrlError extends Error {
  readonly code = 'INVALID_REMOTE_URL'
}

const supported =
  'file:///path, nfs://host:/export/path, smb://[domain;]user@host/share/path, s3://host/bucket/path or s3+http://host/bucket/path'

/** Parses a remote URL; throws RemoteUrlError saying which part is wrong and what is accepted. */
export function parseRemoteUrl(url: string): RemoteLocation {
  const scheme = /^([a-z0-9+]+):\/\//i.exec(url)?.[1]?.toLowerCase()
  switch (scheme) {
    case 'file':
      return parseFile(url)
    case 'nfs':
      return parseNfs(url)
    case 'smb':
      return parseSmb(url)
    case 's3':
    case 's3+http':
      return parseS3(url, scheme === 's3' ? 'https' : 'http')
    default:
      throw new RemoteUrlError(
        scheme === undefined
          ? `remote URL "${display(url)}" has no scheme: expected one of ${supported}`
          : `remote URL scheme "${scheme}://" is not supported: expected one of ${supported}`,
      )
  }
}

/** The canonical URL of a location; parseRemoteUrl(formatRemoteUrl(l)) equals l. */
export function formatRemoteUrl(location: RemoteLocation): string {
  const hostPort = (h: string, p: number | undefined) => (p === undefined ? h : `${h}:${p}`)
  switch (location.type) {
    case 'file':
      return `file://${encodePath(location.path)}`
    case 'nfs':
      return `nfs://${location.host}:${location.port === undefined ? '' : `${location.port}:`}${encodePath(location.exportPath)}`
    case 'smb': {
      const domain = location.domain === undefined ? '' : `${encodeURIComponent(location.domain)};`
      const path = location.path === '' ? '' : encodePath(location.path)
      return `smb://${domain}${encodeURIComponent(location.username)}@${hostPort(location.host, location.port)}/${encodeURIComponent(location.share)}${path}`
    }
    case 's3': {
      const scheme = location.protocol === 'https' ? 's3' : 's3+http'
      const region = location.region === undefined ? '' : `?region=${encodeURIComponent(location.region)}`
      const path = location.path === '' ? '' : encodePath(location.path)
      return `${scheme}://${hostPort(location.host, location.port)}/${encodeURIComponent(location.bucket)}${path}${region}`
    }
  }
}

/** zod schema for a URL field: parses it, reporting problems as issues on that field. */
export const remoteUrlSchema = z.string().transform((url, ctx): RemoteLocation => {
  try {
    return parseRemoteUrl(url)
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) })
    return z.NEVER
  }
})

function parseFile(url: string): RemoteLocation {
  const rest = url.slice('file://'.length)
  if (!rest.startsWith('/')) {
    throw new RemoteUrlError(
      `file remote URL "${display(url)}" needs an absolute path: file:///var/backups (three slashes)`,
    )
  }
  return { type: 'file', path: normalizePath(rest, url) }
}

function parseNfs(url: string): RemoteLocation {
  const rest = url.slice('nfs://'.length)
  const match = /^([^:/?#]+):(?:(\d+):)?(\/[^?#]*)$/.exec(rest)
  if (!match) {
    throw new RemoteUrlError(
      `NFS remote URL "${display(url)}" is not of the form nfs://host:/export/path (or nfs://host:port:/export/path)`,
    )
  }
  const [, nfsHost, nfsPort, exportPath] = match
  return {
    type: 'nfs',
    host: nfsHost!,
    port: parsePort(nfsPort, url),
    exportPath: normalizePath(exportPath!, url),
  }
}

function parseSmb(url: string): RemoteLocation {
  const parsed = parseAuthority(url, 'smb://')
  if (parsed.password !== undefined) throw passwordInUrl(url)
  if (parsed.user === undefined) {
    throw new RemoteUrlError(`SMB remote URL "${display(url)}" needs a user name: smb://[domain;]user@host/share/path`)
  }
  const [share, ...segments] = parsed.path.split('/').filter((s) => s !== '')
  if (share === undefined) {
    throw new RemoteUrlError(`SMB remote URL "${display(url)}" names no share: smb://[domain;]user@host/share/path`)
  }
  const semicolon = parsed.user.indexOf(';')
  const domain = semicolon === -1 ? undefined : decode(parsed.user.slice(0, semicolon), url)
  const username = decode(semicolon === -1 ? parsed.user : parsed.user.slice(semicolon + 1), url)
  if (username === '') throw new RemoteUrlError(`SMB remote URL "${display(url)}" has an empty user name`)
  return {
    type: 'smb',
    host: parsed.host,
    port: parsed.port,
    share: decode(share, url),
    path: segments.length === 0 ? '' : normalizePath(`/${segments.join('/')}`, url),
    domain: domain === '' ? undefined : domain,
    username,
  }
}

function parseS3(url: string, protocol: 'https' | 'http'): RemoteLocation {
  const prefix = protocol === 'https' ? 's3://' : 's3+http://'
  const parsed = parseAuthority(url, prefix)
  if (parsed.user !== undefined) {
    throw new RemoteUrlError(
      `S3 remote URL "${display(url)}" must not carry credentials: put the access key and secret in the remote's credentials`,
    )
  }
  const [bucket, ...segments] = parsed.path.split('/').filter((s) => s !== '')
  if (bucket === undefined)
    throw new RemoteUrlError(`S3 remote URL "${display(url)}" names no bucket: ${prefix}host/bucket/path`)
  let region: string | undefined
  for (const [key, value] of new URLSearchParams(parsed.query)) {
    if (key !== 'region')
      throw new RemoteUrlError(`S3 remote URL "${display(url)}" has an unknown option "${key}" (only region)`)
    region = value
  }
  return {
    type: 's3',
    protocol,
    host: parsed.host,
    port: parsed.port,
    bucket: decode(bucket, url),
    path: segments.length === 0 ? '' : normalizePath(`/${segments.join('/')}`, url),
    region,
  }
}

interface Authority {
  user?: string
  password?: string
  host: string
  port?: number
  path: string
  query: string
}

function parseAuthority(url: string, prefix: string): Authority {
  const rest = url.slice(prefix.length)
  // The user part ends at the last "@" before any query, so a password holding "/" or "@" is still
  // recognised as a password (and refused) instead of being misread as host or path.
  const queryStart = rest.search(/[?#]/)
  const at = rest.lastIndexOf('@', queryStart === -1 ? undefined : queryStart)
  const userInfo = at === -1 ? undefined : rest.slice(0, at)
  const match = /^([^/:?#]+)(?::([^/?#]*))?(\/[^?#]*)?(?:\?([^#]*))?$/.exec(rest.slice(at + 1))
  if (!match)
    throw new RemoteUrlError(`remote URL "${display(url)}" is not of the form ${prefix}[user@]host[:port]/path`)
  const [, urlHost, urlPort, path = '', query = ''] = match
  const colon = userInfo?.indexOf(':') ?? -1
  return {
    user: colon === -1 ? userInfo : userInfo!.slice(0, colon),
    password: colon === -1 ? undefined : userInfo!.slice(colon + 1),
    host: urlHost!,
    port: parsePort(urlPort, url),
    path,
    query,
  }
}

function parsePort(value: string | undefined, url: string): number | undefined {
  if (value === undefined || value === '') return undefined
  const portNumber = Number(value)
  if (!/^\d+$/.test(value) || portNumber < 1 || portNumber > 65535) {
    throw new RemoteUrlError(`remote URL "${display(url)}" has an invalid port "${value}" (1 to 65535)`)
  }
  return portNumber
}

function normalizePath(path: string, url: string): string {
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.')
  if (segments.some((segment) => segment === '..')) {
    throw new RemoteUrlError(`remote URL "${display(url)}" must not contain ".." in its path`)
  }
  return `/${segments.map((segment) => decode(segment, url)).join('/')}`
}

function decode(value: string, url: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw new RemoteUrlError(`remote URL "${display(url)}" has an invalid percent-encoding in "${value}"`)
  }
}

function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/')
}

function passwordInUrl(url: string): RemoteUrlError {
  return new RemoteUrlError(
    `remote URL "${display(url)}" must not contain a password: put it in the remote's credentials (kept as a XAPI secret)`,
  )
}

/** The URL as error messages show it: a password, if someone wrote one, is masked. */
function display(url: string): string {
  const start = url.indexOf('://')
  const at = url.lastIndexOf('@')
  if (start === -1 || at < start) return url
  const userInfo = url.slice(start + 3, at)
  const colon = userInfo.indexOf(':')
  return colon === -1 ? url : `${url.slice(0, start + 3)}${userInfo.slice(0, colon)}:***${url.slice(at)}`
}
