import type { z } from 'zod'
import { backupJobSchema, normalizeBackupJob } from './backup-job'
import { type CheckFailure, formatPath, policyErrorMap, toCheckFailures } from './issues'
import { normalizeRemote, remoteSchema } from './remote'
import { replicationTargetSchema } from './replication-target'
import { containsUnknown, tolerateUnknown, type Unknowable } from './unknown'
import { normalizeVmBackupTags, vmBackupTagsSchema } from './vm-backup-tags'

/** The four resources users write, with their schema and canonical form. */
export const policyKinds = {
  Remote: { schema: remoteSchema, normalize: normalizeRemote },
  BackupJob: { schema: backupJobSchema, normalize: normalizeBackupJob },
  ReplicationTarget: { schema: replicationTargetSchema, normalize: <T>(spec: T): T => spec },
  VmBackupTags: { schema: vmBackupTagsSchema, normalize: normalizeVmBackupTags },
} as const

export type PolicyKind = keyof typeof policyKinds
export const POLICY_KINDS = Object.keys(policyKinds) as PolicyKind[]

export type PolicySchema<K extends PolicyKind> = (typeof policyKinds)[K]['schema']
/** What users write (defaults optional). */
export type PolicyInput<K extends PolicyKind> = z.input<PolicySchema<K>>
/** The validated, canonical spec (defaults filled). */
export type PolicySpec<K extends PolicyKind> = z.output<PolicySchema<K>>

export type CheckResult<T> = { ok: true; value: T } | { ok: false; failures: CheckFailure[] }

export interface CheckOptions {
  /**
   * 'reject' (default): the preview placeholder for unknown values is an ordinary (usually invalid) value.
   * 'skip': during `pulumi preview`, a field holding the placeholder is unknown: its own checks and every
   * rule that reads it are skipped, and it stays the placeholder in the result.
   */
  unknowns?: 'reject' | 'skip'
}

/**
 * Validates a resource's arguments: defaults filled, canonical form, or failures naming each field. The
 * provider's `check` returns these failures as they are.
 */
export function checkPolicy<K extends PolicyKind>(kind: K, input: unknown): CheckResult<PolicySpec<K>>
export function checkPolicy<K extends PolicyKind>(
  kind: K,
  input: unknown,
  options: CheckOptions,
): CheckResult<Unknowable<PolicySpec<K>>>
export function checkPolicy<K extends PolicyKind>(
  kind: K,
  input: unknown,
  options: CheckOptions = {},
): CheckResult<Unknowable<PolicySpec<K>>> {
  const { schema, normalize } = policyKinds[kind] as {
    schema: z.ZodType
    normalize: (spec: unknown) => Unknowable<PolicySpec<K>>
  }
  const result = checkWith(schema, input, options)
  return result.ok ? { ok: true, value: normalize(result.value) } : result
}

/** checkPolicy for any schema (a part of a resource, a stored spec). */
export function checkWith<S extends z.ZodType>(schema: S, input: unknown): CheckResult<z.output<S>>
export function checkWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  options: CheckOptions,
): CheckResult<Unknowable<z.output<S>>>
export function checkWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  options: CheckOptions = {},
): CheckResult<Unknowable<z.output<S>>> {
  const skipUnknown = options.unknowns === 'skip' && containsUnknown(input)
  const effective: z.ZodType = skipUnknown ? tolerateUnknown(schema) : schema
  const result = effective.safeParse(input, { error: policyErrorMap })
  if (result.success) return { ok: true, value: result.data as Unknowable<z.output<S>> }
  const failures = toCheckFailures(result.error.issues, input, { skipUnknown })
  // Every failure was about an unknown value: nothing to report, and nothing better to return than the input.
  if (failures.length === 0) return { ok: true, value: input as Unknowable<z.output<S>> }
  return { ok: false, failures }
}

export class PolicyError extends Error {
  readonly code = 'INVALID_POLICY'
  constructor(
    readonly kind: string,
    readonly failures: readonly CheckFailure[],
  ) {
    super(
      `invalid ${kind}: ${failures.map(({ property, reason }) => (property === '' ? reason : `${property}: ${reason}`)).join('; ')}`,
    )
  }
}

/** checkPolicy that throws PolicyError, for callers that cannot go on with an invalid spec. */
export function parsePolicy<K extends PolicyKind>(kind: K, input: unknown): PolicySpec<K> {
  const result = checkPolicy(kind, input)
  if (!result.ok) throw new PolicyError(kind, result.failures)
  return result.value
}

export { formatPath }
