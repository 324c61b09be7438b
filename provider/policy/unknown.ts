import { z } from 'zod'

/**
 * What a dynamic provider's `check` and `diff` receive, during `pulumi preview`, in place of an input that
 * comes from another resource's output not known yet: this exact string, whatever the field's type
 * (`@pulumi/pulumi` runtime/rpc.js `unknownValue`). Returning it unchanged keeps the value unknown.
 */
export const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9'
export type Unknown = typeof UNKNOWN

export function isUnknown(value: unknown): value is Unknown {
  return value === UNKNOWN
}

/** True when the value, or anything inside it, is unknown. */
export function containsUnknown(value: unknown): boolean {
  if (isUnknown(value)) return true
  if (Array.isArray(value)) return value.some(containsUnknown)
  if (value !== null && typeof value === 'object') return Object.values(value).some(containsUnknown)
  return false
}

/**
 * A validated spec as seen during preview: any field, element or nested object may be unknown.
 * Cross-field rules are written against this type so the compiler makes them handle unknowns (except
 * in string fields: the placeholder is a string too, so rules test those with isUnknown themselves).
 */
export type Unknowable<T> =
  | Unknown
  | (T extends readonly (infer E)[] ? Unknowable<E>[] : T extends object ? { [K in keyof T]: Unknowable<T[K]> } : T)

/** The value as a known array, or undefined when the array itself is unknown. */
export function knownArray<T>(value: Unknowable<T[]> | T[]): Unknowable<T>[] | undefined {
  return isUnknown(value) ? undefined : (value as Unknowable<T>[])
}

const unknownLiteral = z.literal(UNKNOWN)
const tolerantCache = new WeakMap<z.ZodType, z.ZodType>()

/**
 * The same schema, except that every value position also accepts UNKNOWN and keeps it as is: defaults,
 * checks and refinements of everything known still apply. An object whose discriminator is unknown is
 * kept as given: which branch, hence which fields, it has cannot be known.
 */
export function tolerateUnknown<S extends z.ZodType>(schema: S): z.ZodType<Unknowable<z.output<S>>> {
  let tolerant = tolerantCache.get(schema)
  if (tolerant === undefined) {
    tolerant = rebuild(schema, false)
    tolerantCache.set(schema, tolerant)
  }
  return tolerant as z.ZodType<Unknowable<z.output<S>>>
}

type AnySchema = z.core.$ZodType
type Def = AnySchema['_zod']['def'] & Record<string, unknown>

function rebuild(node: AnySchema, wrap = true): z.ZodType {
  const def = node._zod.def as Def
  const copy = (changes: Record<string, unknown>) =>
    z.core.util.clone(node, { ...def, ...changes } as never, { parent: true })
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
      return copy({ innerType: rebuild(def.innerType as AnySchema) }) as z.ZodType
    case 'object':
      return orUnknown(copy({ shape: tolerantShape(def.shape as Record<string, AnySchema>) }), wrap)
    case 'array':
      return orUnknown(copy({ element: rebuild(def.element as AnySchema) }), wrap)
    case 'record':
      return orUnknown(copy({ valueType: rebuild(def.valueType as AnySchema) }), wrap)
    case 'union': {
      const discriminator = def.discriminator as string | undefined
      const options = (def.options as AnySchema[]).map((option) =>
        discriminator === undefined ? rebuild(option) : rebuildBranch(option, discriminator),
      )
      if (discriminator !== undefined) options.push(unknownBranch(discriminator))
      return orUnknown(copy({ options }), wrap)
    }
    default:
      // Leaves, and pipes: a pipe (a transform) must never see UNKNOWN, so the whole pipe is wrapped.
      return orUnknown(node as z.ZodType, wrap)
  }
}

/** A branch for an unknown discriminator: the object is kept as given, nothing about it can be checked. */
function unknownBranch(discriminator: string): z.ZodType {
  return z.looseObject({ [discriminator]: unknownLiteral })
}

function rebuildBranch(option: AnySchema, discriminator: string): z.ZodType {
  const def = option._zod.def as Def
  const shape = def.shape as Record<string, AnySchema>
  const tolerant = tolerantShape(shape)
  tolerant[discriminator] = shape[discriminator] as z.ZodType
  return z.core.util.clone(option, { ...def, shape: tolerant } as never, { parent: true }) as z.ZodType
}

function tolerantShape(shape: Record<string, AnySchema>): Record<string, z.ZodType> {
  return Object.fromEntries(Object.entries(shape).map(([key, field]) => [key, rebuild(field)]))
}

function orUnknown(node: AnySchema, wrap: boolean): z.ZodType {
  return wrap ? z.union([unknownLiteral, node as z.ZodType]) : (node as z.ZodType)
}

/** True when this union branch failure only says "not UNKNOWN" (the branch tolerateUnknown adds). */
export function isUnknownBranchFailure(issues: readonly z.core.$ZodIssue[]): boolean {
  const [only] = issues
  return issues.length === 1 && only?.code === 'invalid_value' && only.values.length === 1 && only.values[0] === UNKNOWN
}
