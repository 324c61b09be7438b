import { z } from 'zod'
import { closest, listOf } from './suggest'
import { isUnknown, type Unknowable } from './unknown'

/** Field schemas shared by several resources. */

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9 ._+()-]{0,62}[A-Za-z0-9._+()-])?$/
const NAME_RULE =
  'must be 1 to 64 characters (letters, digits, spaces and . _ - + ( )), starting with a letter or digit and not ending with a space'

/** A name users give a policy object; also how other resources refer to it. */
export function nameSchema(description: string) {
  return z
    .string()
    .regex(NAME, { error: NAME_RULE })
    .meta({
      description: `${description} 1 to 64 characters: letters, digits, spaces and . _ - + ( ), starting with a letter or digit.`,
    })
}

export const poolSchema = z
  .string()
  .min(1)
  .meta({
    description:
      'Name of the configured pool that stores this object, when the provider is configured with several pools. ' +
      'Omit it to use the only (or default) configured pool.',
  })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isUuid(value: string): boolean {
  return UUID.test(value)
}

/** A reference to a XAPI object by uuid or by name_label: anything that looks like a uuid is tried as one first. */
export function objectRefSchema(description: string) {
  return z.string().trim().min(1).max(255).meta({ description })
}

const TAG_RULE = 'must be a non-empty tag without leading or trailing blanks, at most 255 characters'

export function tagSchema(description?: string) {
  const tag = z
    .string()
    .min(1, { error: TAG_RULE })
    .max(255, { error: TAG_RULE })
    .refine((tag) => tag.trim() === tag, { error: TAG_RULE })
  return description === undefined ? tag : tag.meta({ description })
}

/**
 * A list whose order does not matter and whose entries must be distinct; a repeated entry is reported
 * at its own index (unknown entries never count as repeats).
 */
export function setOf<T extends z.ZodType<string>>(item: T, what: string) {
  return z.array(item).superRefine((values, ctx) => {
    const seen = new Set<string>()
    for (const [index, value] of values.entries()) {
      if (isUnknown(value)) continue
      if (seen.has(value)) {
        ctx.addIssue({ code: 'custom', path: [index], message: `${JSON.stringify(value)} is listed twice in ${what}` })
      }
      seen.add(value)
    }
  })
}

/**
 * An object that refuses keys it does not define, naming each one and the closest valid key, so a typo
 * such as "exportRetenion" is caught instead of silently ignored. One message line per unknown key, in
 * the issue's key order (the error formatter splits them).
 */
export function strictObject<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const valid = Object.keys(shape)
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => unknownKeyMessage(key, valid)).join('\n')
        : undefined,
  })
}

export function unknownKeyMessage(key: string, valid: readonly string[]): string {
  const suggestion = closest(key, valid)
  return suggestion === undefined
    ? `unknown property ${JSON.stringify(key)}: expected ${listOf(valid)}`
    : `unknown property ${JSON.stringify(key)}: did you mean ${JSON.stringify(suggestion)}?`
}

/** A whole number with bounds, described once. */
export function count(description: string, options: { min?: number; max?: number } = {}) {
  let schema = z
    .number()
    .int()
    .min(options.min ?? 0)
  if (options.max !== undefined) schema = schema.max(options.max)
  return schema.meta({ description })
}

/** A set-like list in canonical (sorted) order; an unknown list stays unknown. */
export function sortedSet<T extends Unknowable<string[]>>(values: T): T {
  return (isUnknown(values) ? values : [...values].sort()) as T
}
