import type { ClassSchema, FieldSchema } from '../model/class-schema'
import type { XapiType } from '../model/types'
import { XapiError } from './errors'
import { defineMethod, type MethodSpec } from './method'

export interface AccessorOptions {
  /** Generate `get_<field>` for every field (XAPI does, except for `message`). */
  readonly fieldGetters?: boolean
  /** Generate the setters of `rw` fields. */
  readonly setters?: boolean
}

/**
 * The methods XAPI generates for a class: `get_all`, `get_all_records`, `get_record`, `get_by_uuid`,
 * `get_by_name_label` (where the datamodel has it), `get_<f>`, and for RW fields `set_<f>`, plus
 * `add_<f>`/`remove_<f>` for sets and `add_to_<f>`/`remove_from_<f>` for maps.
 */
export function classAccessors(schema: ClassSchema, options: AccessorOptions = {}): MethodSpec[] {
  const cls = schema.name
  const refType = `${cls} ref`
  const recordType: XapiType = { kind: 'record', cls }
  const methods: MethodSpec[] = [
    defineMethod({
      name: `${cls}.get_all`,
      params: [],
      result: `${refType} set`,
      handler: (ctx) => ctx.core.db.refs(cls),
    }),
    defineMethod({
      name: `${cls}.get_all_records`,
      params: [],
      result: { kind: 'map', key: { kind: 'ref', cls }, value: recordType },
      handler: (ctx) => Object.fromEntries(ctx.core.db.entries(cls)),
    }),
    defineMethod({
      name: `${cls}.get_record`,
      params: [['self', refType]],
      result: recordType,
      handler: (ctx, [self]) => ctx.core.db.get(cls, self),
    }),
    defineMethod({
      name: `${cls}.get_by_uuid`,
      params: [['uuid', 'string']],
      result: refType,
      handler: (ctx, [uuid]) => ctx.core.db.refOfUuid(cls, uuid),
    }),
  ]
  if (schema.getByNameLabel) {
    methods.push(
      defineMethod({
        name: `${cls}.get_by_name_label`,
        params: [['label', 'string']],
        result: `${refType} set`,
        handler: (ctx, [label]) => ctx.core.db.filter(cls, (record) => record.name_label === label),
      }),
    )
  }
  for (const field of schema.fields) {
    if (options.fieldGetters !== false) methods.push(getter(cls, field))
    if (field.access === 'rw' && options.setters !== false) methods.push(...setters(cls, field))
  }
  return methods
}

function getter(cls: string, field: FieldSchema): MethodSpec {
  return defineMethod({
    name: `${cls}.get_${field.name}`,
    params: [['self', `${cls} ref`]],
    result: field.type,
    handler: (ctx, [self]) => ctx.core.db.get(cls, self)[field.name],
  })
}

function setters(cls: string, field: FieldSchema): MethodSpec[] {
  const self = ['self', `${cls} ref`] as const
  const { type } = field
  const set = defineMethod({
    name: `${cls}.set_${field.name}`,
    params: [self, ['value', 'string']],
    result: 'void',
    handler: (ctx, [ref, value]) => {
      ctx.core.db.get(cls, ref)
      ctx.core.db.update(cls, ref, { [field.name]: value })
    },
  })
  // The declared 'string' is replaced by the field's real type, which the dispatcher converts to.
  const typedSet: MethodSpec = { ...set, params: [set.params[0]!, { ...set.params[1]!, type }] }
  if (type.kind === 'set') {
    const item = { ...typedSet.params[1]!, type: type.of }
    const add = defineMethod({
      name: `${cls}.add_${field.name}`,
      params: [self, ['value', 'string']],
      result: 'void',
      handler: (ctx, [ref, value]) => {
        const current = ctx.core.db.get(cls, ref)[field.name] as readonly unknown[]
        if (!current.includes(value)) ctx.core.db.update(cls, ref, { [field.name]: [...current, value] })
      },
    })
    const remove = defineMethod({
      name: `${cls}.remove_${field.name}`,
      params: [self, ['value', 'string']],
      result: 'void',
      handler: (ctx, [ref, value]) => {
        const current = ctx.core.db.get(cls, ref)[field.name] as readonly unknown[]
        if (current.includes(value)) {
          ctx.core.db.update(cls, ref, { [field.name]: current.filter((v) => v !== value) })
        }
      },
    })
    return [typedSet, withParam(add, 1, item), withParam(remove, 1, item)]
  }
  if (type.kind === 'map') {
    const addTo = defineMethod({
      name: `${cls}.add_to_${field.name}`,
      params: [self, ['key', 'string'], ['value', 'string']],
      result: 'void',
      handler: (ctx, [ref, key, value]) => {
        const current = ctx.core.db.get(cls, ref)[field.name] as Readonly<Record<string, unknown>>
        if (Object.hasOwn(current, key)) throw new XapiError('MAP_DUPLICATE_KEY', [cls, field.name, ref, key])
        ctx.core.db.update(cls, ref, { [field.name]: { ...current, [key]: value } })
      },
    })
    const removeFrom = defineMethod({
      name: `${cls}.remove_from_${field.name}`,
      params: [self, ['key', 'string']],
      result: 'void',
      handler: (ctx, [ref, key]) => {
        const current = ctx.core.db.get(cls, ref)[field.name] as Readonly<Record<string, unknown>>
        if (!Object.hasOwn(current, key)) return
        const { [key]: _removed, ...rest } = current
        ctx.core.db.update(cls, ref, { [field.name]: rest })
      },
    })
    const typedAddTo = withParam(withParam(addTo, 1, { ...addTo.params[1]!, type: type.key }), 2, {
      ...addTo.params[2]!,
      type: type.value,
    })
    return [typedSet, typedAddTo, withParam(removeFrom, 1, { ...removeFrom.params[1]!, type: type.key })]
  }
  return [typedSet]
}

function withParam(spec: MethodSpec, index: number, param: MethodSpec['params'][number]): MethodSpec {
  return { ...spec, params: spec.params.map((p, i) => (i === index ? param : p)) }
}
