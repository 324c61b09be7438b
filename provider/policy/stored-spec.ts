import type { z } from 'zod'
import { backupJobSchema, normalizeBackupJob } from './backup-job'
import { normalizeRemote, storedRemoteSchema } from './remote'
import { replicationTargetSchema } from './replication-target'
import { listOf } from './suggest'
import { checkWith, type PolicyKind } from './validate'
import { normalizeVmBackupTags, vmBackupTagsSchema } from './vm-backup-tags'

/**
 * The policy as stored in the pool (`pool.other_config`, one key per object; key naming belongs to the pool
 * store): a versioned envelope `{"kind":"BackupJob","version":1,"spec":{...}}` around the canonical spec.
 * Remotes are stored without their credentials (see storedRemoteSchema).
 */

/** Turns a version-n spec into a version-(n+1) spec. */
export type Migration = (spec: unknown) => unknown

export interface SpecFormat {
  /** The version this code writes and the newest it reads. */
  readonly version: number
  /** migrations[n] upgrades version n; versions with no path to `version` are refused. */
  readonly migrations: Readonly<Record<number, Migration>>
}

export const SPEC_FORMATS: Readonly<Record<PolicyKind, SpecFormat>> = {
  Remote: { version: 1, migrations: {} },
  BackupJob: { version: 1, migrations: {} },
  ReplicationTarget: { version: 1, migrations: {} },
  VmBackupTags: { version: 1, migrations: {} },
}

const storedSchemas = {
  Remote: storedRemoteSchema,
  BackupJob: backupJobSchema,
  ReplicationTarget: replicationTargetSchema,
  VmBackupTags: vmBackupTagsSchema,
} as const

const normalizers: Readonly<Record<PolicyKind, (spec: never) => unknown>> = {
  Remote: normalizeRemote,
  BackupJob: normalizeBackupJob,
  ReplicationTarget: (spec) => spec,
  VmBackupTags: normalizeVmBackupTags,
}

export type StoredSpec<K extends PolicyKind> = z.output<(typeof storedSchemas)[K]>

export interface StoredSpecEnvelope<K extends PolicyKind = PolicyKind> {
  kind: K
  version: number
  spec: StoredSpec<K>
}

export type StoredSpecErrorCode =
  | 'STORED_SPEC_UNREADABLE'
  | 'STORED_SPEC_WRONG_KIND'
  | 'STORED_SPEC_NEWER'
  | 'STORED_SPEC_UNSUPPORTED'
  | 'STORED_SPEC_INVALID'

export class StoredSpecError extends Error {
  constructor(
    readonly code: StoredSpecErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** The JSON to store: validated, canonical, current version. Throws StoredSpecError if the spec is invalid. */
export function encodeStoredSpec<K extends PolicyKind>(kind: K, spec: StoredSpec<K>): string {
  const envelope = { kind, version: SPEC_FORMATS[kind].version, spec: validSpec(kind, spec, `${kind} spec to store`) }
  return JSON.stringify(envelope)
}

/**
 * Reads what encodeStoredSpec wrote, now or in an older version (migrated). Refuses a newer version with
 * a message to upgrade, and anything else it cannot trust with a message naming the problem.
 */
export function decodeStoredSpec<K extends PolicyKind = PolicyKind>(
  text: string,
  options: { kind?: K; formats?: Readonly<Record<PolicyKind, SpecFormat>> } = {},
): StoredSpecEnvelope<K> {
  const formats = options.formats ?? SPEC_FORMATS
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new StoredSpecError('STORED_SPEC_UNREADABLE', `stored spec is not JSON (${(error as Error).message})`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new StoredSpecError('STORED_SPEC_UNREADABLE', 'stored spec is not a {kind, version, spec} object')
  }
  const { kind, version, spec, ...extra } = parsed as Record<string, unknown>
  const kinds = Object.keys(formats)
  if (typeof kind !== 'string' || !kinds.includes(kind)) {
    throw new StoredSpecError(
      'STORED_SPEC_UNREADABLE',
      `stored spec has kind ${JSON.stringify(kind)}: expected ${listOf(kinds)}`,
    )
  }
  if (options.kind !== undefined && kind !== options.kind) {
    throw new StoredSpecError('STORED_SPEC_WRONG_KIND', `stored spec is a ${kind}, expected a ${options.kind}`)
  }
  const format = formats[kind as PolicyKind]
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new StoredSpecError(
      'STORED_SPEC_UNREADABLE',
      `stored ${kind} spec has no valid version (a whole number from 1)`,
    )
  }
  if (version > format.version) {
    throw new StoredSpecError(
      'STORED_SPEC_NEWER',
      `stored ${kind} spec was written by a newer xcp-backup (v${version}); this one reads up to v${format.version}: upgrade xcp-backup`,
    )
  }
  if (Object.keys(extra).length > 0) {
    throw new StoredSpecError(
      'STORED_SPEC_UNREADABLE',
      `stored ${kind} spec has unexpected keys ${listOf(Object.keys(extra), 'and')} next to kind, version and spec`,
    )
  }
  let current = spec
  for (let from = version; from < format.version; from++) {
    const migrate = format.migrations[from]
    if (migrate === undefined) {
      throw new StoredSpecError(
        'STORED_SPEC_UNSUPPORTED',
        `stored ${kind} spec is v${version}, which this xcp-backup can no longer read (no migration from v${from}): apply the policy again with pulumi up`,
      )
    }
    current = migrate(current)
  }
  return {
    kind: kind as K,
    version: format.version,
    spec: validSpec(kind as K, current, `stored ${kind} spec`),
  }
}

function validSpec<K extends PolicyKind>(kind: K, spec: unknown, label: string): StoredSpec<K> {
  const result = checkWith(storedSchemas[kind] as z.ZodType, spec)
  if (!result.ok) {
    const problems = result.failures.map(({ property, reason }) =>
      property === '' ? reason : `${property}: ${reason}`,
    )
    throw new StoredSpecError('STORED_SPEC_INVALID', `${label} is invalid: ${problems.join('; ')}`)
  }
  return (normalizers[kind] as (spec: unknown) => unknown)(result.value) as StoredSpec<K>
}
