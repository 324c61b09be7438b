import { parseXapiType, type XapiType, zeroValue } from './types'

/**
 * How a field can be written, following the datamodel's qualifiers:
 * - `rw`: RW, with the generated `set_<f>` (and `add_<f>`/`remove_<f>`, `add_to_<f>`/`remove_from_<f>`);
 * - `ctor`: StaticRO, given at creation (part of the constructor record) and then read-only;
 * - `ro`: DynamicRO, maintained by the server.
 */
export type FieldAccess = 'rw' | 'ctor' | 'ro'

/** One row of a class table: name, type in XAPI notation, access, datamodel default (absent when none). */
export type FieldTuple = readonly [name: string, type: string, access: FieldAccess, defaultValue?: unknown]

export interface FieldSchema {
  readonly name: string
  readonly type: XapiType
  readonly access: FieldAccess
  /** The datamodel default, or undefined when XAPI requires a value at creation. */
  readonly defaultValue: unknown
}

export interface ClassSchema {
  /** The class name exactly as XAPI spells it (`VM`, `host`, `VM_guest_metrics`). */
  readonly name: string
  /** Whether XAPI generates `<class>.get_by_name_label` for it. */
  readonly getByNameLabel: boolean
  readonly fields: readonly FieldSchema[]
  readonly fieldsByName: ReadonlyMap<string, FieldSchema>
  /** Field name to type, in record order; what the XML-RPC encoder needs for a record. */
  readonly recordTypes: Readonly<Record<string, XapiType>>
}

export interface ClassDefinition {
  readonly name: string
  readonly getByNameLabel: boolean
  readonly fields: readonly FieldTuple[]
}

export function defineClass(definition: ClassDefinition): ClassSchema {
  const fields = definition.fields.map(([name, type, access, defaultValue]): FieldSchema => {
    return { name, type: parseXapiType(type), access, defaultValue }
  })
  const fieldsByName = new Map(fields.map((field) => [field.name, field]))
  if (fieldsByName.size !== fields.length) throw new Error(`duplicate field in class ${definition.name}`)
  return {
    name: definition.name,
    getByNameLabel: definition.getByNameLabel,
    fields,
    fieldsByName,
    recordTypes: Object.fromEntries(fields.map((field) => [field.name, field.type])),
  }
}

/** The value a new object gets for `field` when its creator gives none. */
export function initialValue(field: FieldSchema): unknown {
  const value = field.defaultValue !== undefined ? field.defaultValue : zeroValue(field.type)
  return copyValue(value)
}

/** Copies arrays and maps so that stored records never share mutable parts. */
export function copyValue<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copyValue) as T
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copyValue(v)])) as T
  }
  return value
}
