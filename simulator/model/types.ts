import { xapiEnums } from './enums'
import { EPOCH, NULL_REF, parseXapiDateTime } from './values'

/**
 * The types of XAPI values, as the datamodel writes them ("VM ref set", "(string -> string) map", ...).
 * The wire encoders need them (XML-RPC marks ints, doubles and dates), and so does the coercion of
 * incoming parameters (XML-RPC clients send ints as strings).
 */
export type XapiType =
  | { readonly kind: 'string' | 'int' | 'int32' | 'float' | 'bool' | 'datetime' | 'void' }
  | { readonly kind: 'enum'; readonly name: string; readonly values: readonly string[] }
  | { readonly kind: 'ref'; readonly cls: string }
  | { readonly kind: 'set'; readonly of: XapiType }
  | { readonly kind: 'map'; readonly key: XapiType; readonly value: XapiType }
  /** A whole record of a class, encoded with that class's field types. */
  | { readonly kind: 'record'; readonly cls: string }
  /** A fixed structure such as the result of event.from. */
  | { readonly kind: 'struct'; readonly fields: Readonly<Record<string, XapiType>> }
  /** An event of event.from, whose snapshot is a record of the class it names. */
  | { readonly kind: 'event' }

const primitives = new Set(['string', 'int', 'int32', 'float', 'bool', 'datetime', 'void'])
const parsedTypes = new Map<string, XapiType>()

/** Parses XAPI's type notation. Throws on a notation it does not know, which is a bug in a class table. */
export function parseXapiType(notation: string): XapiType {
  const cached = parsedTypes.get(notation)
  if (cached !== undefined) return cached
  const type = parseUncached(notation.trim())
  parsedTypes.set(notation, type)
  return type
}

function parseUncached(notation: string): XapiType {
  if (primitives.has(notation)) return { kind: notation } as XapiType
  if (notation.endsWith(' set')) return { kind: 'set', of: parseXapiType(notation.slice(0, -4)) }
  if (notation.endsWith(' map')) {
    const inner = /^\((.+?) -> (.+)\)$/.exec(notation.slice(0, -4).trim())
    if (inner === null) throw new Error(`bad XAPI map type: ${notation}`)
    return { kind: 'map', key: parseXapiType(inner[1]!), value: parseXapiType(inner[2]!) }
  }
  if (notation.endsWith(' ref')) return { kind: 'ref', cls: notation.slice(0, -4) }
  if (notation.startsWith('enum ')) {
    const name = notation.slice(5)
    const values = xapiEnums[name]
    if (values === undefined) throw new Error(`unknown XAPI enum: ${name}`)
    return { kind: 'enum', name, values }
  }
  if (notation.startsWith('record ')) return { kind: 'record', cls: notation.slice(7) }
  throw new Error(`unknown XAPI type notation: ${notation}`)
}

/** The value XAPI stores when nothing else is given (used for fields without a datamodel default). */
export function zeroValue(type: XapiType): unknown {
  switch (type.kind) {
    case 'string':
      return ''
    case 'int':
    case 'int32':
    case 'float':
      return 0
    case 'bool':
      return false
    case 'datetime':
      return EPOCH
    case 'enum':
      return type.values[0]
    case 'ref':
      return NULL_REF
    case 'set':
      return []
    case 'map':
    case 'record':
    case 'struct':
    case 'event':
      return {}
    case 'void':
      return ''
  }
}

/** Human-readable form of a type, for error messages. */
export function describeType(type: XapiType): string {
  switch (type.kind) {
    case 'enum':
      return `enum ${type.name} (${type.values.join(', ')})`
    case 'ref':
      return `${type.cls} ref`
    case 'set':
      return `${describeType(type.of)} set`
    case 'map':
      return `(${describeType(type.key)} -> ${describeType(type.value)}) map`
    case 'record':
      return `${type.cls} record`
    default:
      return type.kind
  }
}

/** Raised by {@link coerceValue}; the dispatcher turns it into XAPI's INTERNAL_ERROR for a bad parameter. */
export class ValueTypeError extends Error {
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly got: unknown,
  ) {
    super(`${path}: expected ${expected}, got ${formatGot(got)}`)
  }

  /** The message without the value, for parameters that carry secrets. */
  get redactedMessage(): string {
    return `${this.path}: expected ${this.expected}, got a value of another type`
  }
}

function formatGot(value: unknown): string {
  if (value instanceof Date) return value.toISOString()
  const json = JSON.stringify(value)
  if (json === undefined) return String(value)
  return json.length > 80 ? `${json.slice(0, 77)}...` : json
}

const INTEGER = /^-?[0-9]+$/
const NUMBER = /^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/

/**
 * Converts a decoded wire value to the JS form the database keeps, accepting what XAPI accepts:
 * ints as numbers or numeric strings, floats given as ints, enums in any letter case, dates as
 * XAPI strings or XML-RPC dates. Throws {@link ValueTypeError} naming `path` otherwise.
 */
export function coerceValue(value: unknown, type: XapiType, path: string): unknown {
  switch (type.kind) {
    case 'string':
    case 'ref':
      if (typeof value === 'string') return value
      break
    case 'int':
    case 'int32':
      if (typeof value === 'number' && Number.isInteger(value)) return value
      if (typeof value === 'string' && INTEGER.test(value)) return Number(value)
      break
    case 'float':
      if (typeof value === 'number' && Number.isFinite(value)) return value
      if (typeof value === 'string' && NUMBER.test(value)) return Number(value)
      break
    case 'bool':
      if (typeof value === 'boolean') return value
      if (value === 'true' || value === 'false') return value === 'true'
      break
    case 'datetime': {
      const parsed = parseXapiDateTime(value)
      if (parsed !== undefined) return parsed
      break
    }
    case 'enum':
      if (typeof value === 'string') {
        const lower = value.toLowerCase()
        const match = type.values.find((v) => v.toLowerCase() === lower)
        if (match !== undefined) return match
      }
      break
    case 'set':
      if (Array.isArray(value)) return value.map((item, i) => coerceValue(item, type.of, `${path}[${i}]`))
      break
    case 'map':
      if (isPlainObject(value)) {
        const result: Record<string, unknown> = {}
        for (const [key, item] of Object.entries(value)) {
          coerceValue(key, type.key, `${path} key`)
          result[key] = coerceValue(item, type.value, `${path}[${JSON.stringify(key)}]`)
        }
        return result
      }
      break
    case 'record':
    case 'struct':
    case 'event':
      if (isPlainObject(value)) return value
      break
    case 'void':
      return ''
  }
  throw new ValueTypeError(path, describeType(type), value)
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}
