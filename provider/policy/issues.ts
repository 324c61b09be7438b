import type { z } from 'zod'
import { closest, listOf } from './suggest'
import { isUnknown, isUnknownBranchFailure } from './unknown'

/** A problem with one field, as a Pulumi `check` returns it. */
export interface CheckFailure {
  /** Path of the field in the resource's arguments, e.g. `schedules[1].cron`; '' for the whole object. */
  property: string
  /** What is wrong and what is allowed. Never contains a secret. */
  reason: string
}

type Path = readonly PropertyKey[]

/**
 * Messages for zod's own issue codes, saying what is allowed. Only enum values, literals and key names
 * are quoted back from the input, never free text (which could be a secret).
 */
export const policyErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `is required: expected ${typeNoun(issue.expected)}`
        : `expected ${typeNoun(issue.expected)}, got ${valueNoun(issue.input)}`
    case 'invalid_value':
      return invalidValueMessage(issue.input, issue.values)
    case 'too_small':
      return sizeMessage(issue.origin, 'least', issue.minimum, issue.inclusive, issue.input)
    case 'too_big':
      return sizeMessage(issue.origin, 'most', issue.maximum, issue.inclusive, issue.input)
    case 'invalid_union':
      if (issue.discriminator !== undefined && issue.options !== undefined) {
        const value = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator]
        return invalidValueMessage(value, issue.options as readonly unknown[])
      }
      return undefined
    default:
      return undefined
  }
}

function invalidValueMessage(input: unknown, values: readonly unknown[]): string {
  const allowed = values.map((value) => String(value))
  if (input === undefined) return `is required: expected ${listOf(allowed)}`
  const suggestion = typeof input === 'string' ? closest(input, allowed) : undefined
  const hint = suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`
  const shown = typeof input === 'string' ? JSON.stringify(input) : valueNoun(input)
  return `${shown} is not allowed: expected ${listOf(allowed)}${hint}`
}

function sizeMessage(
  origin: string,
  bound: 'least' | 'most',
  limit: number | bigint,
  inclusive: boolean | undefined,
  input: unknown,
): string {
  const n = Number(limit)
  const value = inclusive === false ? (bound === 'least' ? n + 1 : n - 1) : n
  switch (origin) {
    case 'array':
    case 'set':
      return bound === 'least' && value === 1
        ? 'must list at least one entry'
        : `must list at ${bound} ${value} entries`
    case 'string':
      return bound === 'least' && value === 1 ? 'must not be empty' : `must be at ${bound} ${value} characters long`
    default:
      return `must be at ${bound} ${value}${typeof input === 'number' ? ` (got ${input})` : ''}`
  }
}

function typeNoun(expected: string): string {
  const nouns: Record<string, string> = {
    string: 'a string',
    number: 'a number',
    int: 'a whole number',
    boolean: 'true or false',
    array: 'a list',
    object: 'an object',
    record: 'an object',
  }
  return nouns[expected] ?? expected
}

function valueNoun(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'number' && !Number.isInteger(value)) return `a fraction (${value})`
  if (typeof value === 'boolean') return String(value)
  return typeNoun(typeof value)
}

/**
 * zod issues as check failures: one per field (one per unknown key), with the field path as users wrote
 * it. Union failures are resolved to the branch the value was meant for; with `skipUnknown`, failures
 * of fields whose value (or an enclosing value) is the preview placeholder are dropped.
 */
export function toCheckFailures(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  options: { skipUnknown?: boolean } = {},
): CheckFailure[] {
  const failures = new Map<string, CheckFailure>()
  const add = (path: Path, reason: string) => {
    if (options.skipUnknown === true && touchesUnknown(input, path)) return
    const property = formatPath(path)
    failures.set(`${property}\0${reason}`, { property, reason })
  }
  const expand = (issue: z.core.$ZodIssue, prefix: Path): void => {
    const path = [...prefix, ...issue.path]
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const branch = meantBranch(issue.errors)
      if (branch !== undefined) {
        for (const nested of branch) expand(nested, path)
      } else {
        add(path, `expected ${alternatives(issue.errors)}, got ${valueNoun(valueAt(input, path))}`)
      }
    } else if (issue.code === 'unrecognized_keys') {
      const lines = issue.message.split('\n')
      for (const [index, key] of issue.keys.entries()) add([...path, key], lines[index] ?? issue.message)
    } else {
      add(path, issue.message)
    }
  }
  for (const issue of issues) expand(issue, [])
  return [...failures.values()]
}

/** The branch whose failure concerns the value's content rather than its type, if there is one. */
function meantBranch(branches: readonly (readonly z.core.$ZodIssue[])[]): readonly z.core.$ZodIssue[] | undefined {
  const candidates = branches.filter((branch) => !isUnknownBranchFailure(branch))
  if (candidates.length === 1) return candidates[0]
  const sameType = candidates.filter((branch) => !branch.every((issue) => isTypeMismatch(issue)))
  return sameType.length === 1 ? sameType[0] : undefined
}

function isTypeMismatch(issue: z.core.$ZodIssue): boolean {
  return issue.path.length === 0 && (issue.code === 'invalid_type' || issue.code === 'invalid_value')
}

function alternatives(branches: readonly (readonly z.core.$ZodIssue[])[]): string {
  const nouns = branches
    .filter((branch) => !isUnknownBranchFailure(branch))
    .map((branch) => branch.find((issue) => issue.code === 'invalid_type'))
    .map((issue) => (issue?.code === 'invalid_type' ? typeNoun(issue.expected) : 'another value'))
  return [...new Set(nouns)].join(' or ')
}

function touchesUnknown(input: unknown, path: Path): boolean {
  let value = input
  for (const key of path) {
    if (isUnknown(value)) return true
    if (value === null || typeof value !== 'object') return false
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return isUnknown(value)
}

function valueAt(input: unknown, path: Path): unknown {
  let value = input
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

/** `schedules[1].cron`, `options["mount opts"]`: the path as it reads in a Pulumi program. */
export function formatPath(path: Path): string {
  let text = ''
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) text += text === '' ? key : `.${key}`
    else text += `[${JSON.stringify(String(key))}]`
  }
  return text
}
