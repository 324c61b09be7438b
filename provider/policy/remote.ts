import { z } from 'zod'
import { nameSchema, poolSchema, strictObject } from './fields'
import { formatRemoteUrl, parseRemoteUrl, type RemoteType } from './remote-url'
import { listOf } from './suggest'
import { isUnknown, type Unknowable } from './unknown'

/** Options a remote of each type honours; any other key is refused so a typo is not silently ignored. */
export const REMOTE_OPTIONS: Readonly<Record<RemoteType, Readonly<Record<string, string>>>> = {
  file: {},
  nfs: {
    mountOptions:
      'Extra options for `mount -t nfs -o`, comma-separated, e.g. "vers=4.1,hard,timeo=600". The runner always adds the port from the URL.',
  },
  smb: {},
  s3: {
    forcePathStyle:
      '"true" to address the bucket as https://host/bucket (MinIO and most S3-compatible servers); "false" for virtual-hosted style (https://bucket.host). Default: "true" for s3+http://, "false" for s3://.',
    allowUnauthorized:
      '"true" to accept a TLS certificate that does not verify (self-signed); default "false". Prefer installing the CA.',
  },
}

const BOOLEAN_OPTIONS = new Set(['forcePathStyle', 'allowUnauthorized'])

/** Which credentials each remote type needs; the others are refused. */
export const REMOTE_CREDENTIALS: Readonly<Record<RemoteType, readonly CredentialKey[]>> = {
  file: [],
  nfs: [],
  smb: ['password'],
  s3: ['accessKeyId', 'secretAccessKey'],
}

const secret = (description: string) => z.string().min(1).meta({ description, secret: true })

const credentialsShape = {
  password: secret('SMB password of the user named in the URL.').optional(),
  accessKeyId: secret('S3 access key id.').optional(),
  secretAccessKey: secret('S3 secret access key.').optional(),
}
type CredentialKey = keyof typeof credentialsShape

export const remoteCredentialsSchema = strictObject(credentialsShape).meta({
  id: 'RemoteCredentials',
  description:
    'Secrets the remote needs: `password` for smb://, `accessKeyId` and `secretAccessKey` for s3:// and s3+http://; ' +
    'file:// and nfs:// take none. Kept as a Pulumi secret in state and as a XAPI secret in the pool, never in ' +
    'the stored policy or in messages.',
})

const urlSchema = z
  .string()
  .superRefine((url, ctx) => {
    try {
      parseRemoteUrl(url)
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) })
    }
  })
  .overwrite(canonicalUrl)
  .meta({
    description:
      'Where backups go: file:///path (a local or already mounted directory), nfs://host:/export/path ' +
      '(nfs://host:port:/export/path), smb://[domain;]user@host[:port]/share[/path], ' +
      's3://host[:port]/bucket[/path][?region=...] or s3+http://... for plain HTTP. Never put a password in it: ' +
      'use credentials.',
    examples: ['nfs://nas.lan:/export/xcp-backups', 's3://s3.eu-west-1.amazonaws.com/backups/prod?region=eu-west-1'],
  })

const optionsSchema = z.record(z.string(), z.string()).meta({
  description:
    'Type-specific options, all strings. nfs: `mountOptions` (extra `mount -o` options, e.g. "vers=4.1,hard"). ' +
    's3: `forcePathStyle` ("true"/"false"), `allowUnauthorized` ("true"/"false", accept a self-signed ' +
    'certificate). file and smb take none. Unknown keys are refused.',
})

const remoteShape = {
  name: nameSchema(
    'Name of the remote. Backup jobs list it in `remotes`. It identifies the remote: changing it replaces the resource.',
  ),
  url: urlSchema,
  options: optionsSchema.default({}),
  credentials: remoteCredentialsSchema.optional(),
  enabled: z
    .boolean()
    .default(true)
    .meta({ description: 'A disabled remote is kept but skipped by every job until enabled again.' }),
  pool: poolSchema.optional(),
}

const remoteObject = strictObject(remoteShape)

export type RemoteInput = z.input<typeof remoteObject>
export type Remote = z.output<typeof remoteObject>

export const remoteSchema = remoteObject
  .superRefine((remote, ctx) => checkRemote(remote, ctx))
  .meta({
    description:
      'A backup repository (XO calls it a remote): a directory, NFS export, SMB share or S3 bucket that ' +
      'receives backups in the layout Xen Orchestra reads.',
  })

/**
 * The Remote as stored in the pool: the credentials are replaced by the uuid of the XAPI secret that holds
 * them, so the policy store never contains a secret.
 */
const { credentials: _credentials, ...storedRemoteShape } = remoteShape
export const storedRemoteSchema = strictObject({
  ...storedRemoteShape,
  credentialsSecret: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'uuid of the XAPI secret holding the credentials as JSON; set by the policy store.' }),
}).superRefine((remote, ctx) => checkOptions(remote, ctx))

export type StoredRemote = z.output<typeof storedRemoteSchema>

export function toStoredRemote(remote: Remote, credentialsSecret?: string): StoredRemote {
  const { credentials: _credentials, ...rest } = remote
  return credentialsSecret === undefined ? rest : { ...rest, credentialsSecret }
}

/** Canonical form: option keys sorted (the URL is already canonical). */
export function normalizeRemote<T extends Unknowable<Remote> | Unknowable<StoredRemote>>(remote: T): T {
  if (isUnknown(remote) || isUnknown(remote.options)) return remote
  const options = Object.fromEntries(Object.entries(remote.options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return { ...(remote as object), options } as T
}

/** The canonical spelling of a valid URL (a URL that does not parse is left for its issue to report). */
function canonicalUrl(url: string): string {
  try {
    return formatRemoteUrl(parseRemoteUrl(url))
  } catch {
    return url
  }
}

function remoteType(url: unknown): RemoteType | undefined {
  if (typeof url !== 'string' || isUnknown(url)) return undefined
  try {
    return parseRemoteUrl(url).type
  } catch {
    return undefined
  }
}

function checkRemote(remote: Unknowable<Remote>, ctx: z.RefinementCtx): void {
  if (isUnknown(remote)) return
  checkOptions(remote, ctx)
  const type = remoteType(remote.url)
  const credentials = remote.credentials
  if (type === undefined || isUnknown(credentials)) return
  const needed = REMOTE_CREDENTIALS[type]
  for (const key of Object.keys(credentialsShape) as CredentialKey[]) {
    const present = credentials?.[key] !== undefined
    if (present && !needed.includes(key)) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentials', key],
        message:
          needed.length === 0
            ? `${type}:// remotes take no credentials: remove credentials`
            : `${type}:// remotes do not use ${key}: they take ${listOf(needed, 'and')}`,
      })
    }
    if (!present && needed.includes(key)) {
      ctx.addIssue({
        code: 'custom',
        path: credentials === undefined ? ['credentials'] : ['credentials', key],
        message:
          needed.length === 1
            ? `${type}:// remotes need credentials.${key}`
            : `${type}:// remotes need credentials.${key} (they take ${listOf(needed, 'and')})`,
      })
    }
  }
}

function checkOptions(remote: { url: unknown; options: unknown }, ctx: z.RefinementCtx): void {
  const type = remoteType(remote.url)
  if (type === undefined || isUnknown(remote.options)) return
  const allowed = REMOTE_OPTIONS[type]
  for (const [key, value] of Object.entries(remote.options as Record<string, string>)) {
    if (allowed[key] === undefined) {
      const valid = Object.keys(allowed)
      ctx.addIssue({
        code: 'custom',
        path: ['options', key],
        message:
          valid.length === 0
            ? `${type}:// remotes take no options`
            : `${type}:// remotes have no option ${JSON.stringify(key)}: expected ${listOf(valid)}`,
      })
    } else if (BOOLEAN_OPTIONS.has(key) && !isUnknown(value) && value !== 'true' && value !== 'false') {
      ctx.addIssue({ code: 'custom', path: ['options', key], message: `must be "true" or "false"` })
    }
  }
}
