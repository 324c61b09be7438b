import type { ClassSchema, FieldSchema } from '../model/class-schema'
import type { XapiType } from '../model/types'
import type { CallContext } from './call-context'
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
    params: [self, ['value', type]],
    result: 'void',
    handler: (ctx, [ref, value]) => {
      ctx.core.db.get(cls, ref)
      ctx.core.db.update(cls, ref, { [field.name]: value })
    },
  })
  if (type.kind === 'set') {
    const current = (ctx: CallContext, ref: string) => ctx.core.db.get(cls, ref)[field.name] as readonly unknown[]
    return [
      set,
      defineMethod({
        name: `${cls}.add_${field.name}`,
        params: [self, ['value', type.of]],
        result: 'void',
        handler: (ctx, [ref, value]) => {
          const items = current(ctx, ref)
          if (!items.includes(value)) ctx.core.db.update(cls, ref, { [field.name]: [...items, value] })
        },
      }),
      defineMethod({
        name: `${cls}.remove_${field.name}`,
        params: [self, ['value', type.of]],
        result: 'void',
        handler: (ctx, [ref, value]) => {
          const items = current(ctx, ref)
          if (items.includes(value))
            ctx.core.db.update(cls, ref, { [field.name]: items.filter((item) => item !== value) })
        },
      }),
    ]
  }
  if (type.kind === 'map') {
    const current = (ctx: CallContext, ref: string) =>
      ctx.core.db.get(cls, ref)[field.name] as Readonly<Record<string, unknown>>
    return [
      set,
      defineMethod({
        name: `${cls}.add_to_${field.name}`,
        params: [self, ['key', type.key], ['value', type.value]],
        result: 'void',
        handler: (ctx, [ref, key, value]) => {
          const map = current(ctx, ref)
          const name = String(key)
          if (Object.hasOwn(map, name)) throw new XapiError('MAP_DUPLICATE_KEY', [cls, field.name, ref, name])
          ctx.core.db.update(cls, ref, { [field.name]: { ...map, [name]: value } })
        },
      }),
      defineMethod({
        name: `${cls}.remove_from_${field.name}`,
        params: [self, ['key', type.key]],
        result: 'void',
        handler: (ctx, [ref, key]) => {
          const map = current(ctx, ref)
          const name = String(key)
          if (!Object.hasOwn(map, name)) return
          const { [name]: _removed, ...rest } = map
          ctx.core.db.update(cls, ref, { [field.name]: rest })
        },
      }),
    ]
  }
  return [set]
}
