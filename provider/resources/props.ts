import { containsUnknown, isUnknown } from '../policy/unknown'

/**
 * Property bags as the dynamic provider exchanges them: plain JSON (protobuf Structs). `undefined` anywhere
 * makes the provider process fail with "Unexpected struct type", so every bag returned goes through
 * jsonClean.
 */
export type Props = Record<string, unknown>

/** The key holding the serialized provider; never a managed field. */
export const PROVIDER_KEY = '__provider'

export function withoutProvider(props: Props | undefined): Props {
  const { [PROVIDER_KEY]: _provider, ...rest } = props ?? {}
  return rest
}

/** A deep copy without undefined values (dropped from objects, null in arrays) and with Dates as ISO strings. */
export function jsonClean<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  )
}

/**
 * The managed fields whose value differs between the old state and the new inputs. A missing field equals
 * an undefined one; a field that is unknown (preview) counts as changed.
 */
export function changedFields(olds: Props, news: Props, fields: readonly string[]): string[] {
  return fields.filter((field) => {
    const next = news[field]
    if (containsUnknown(next)) return true
    return canonicalJson(olds[field] ?? null) !== canonicalJson(next ?? null)
  })
}

export function stringField(props: Props, field: string): string | undefined {
  const value = props[field]
  return typeof value === 'string' && !isUnknown(value) ? value : undefined
}
