import type { SimulatorCore } from '../core'
import type { CallContext } from '../rpc/call-context'
import { XapiError } from '../rpc/errors'
import { defineMethod, type MethodSpec } from '../rpc/method'
import { assertVmOperationValid, updateVmAllowedOperations, withVmOperation } from './vm-operations'

/**
 * An explicit VM setter that only stores the value, after XAPI's power-state rule for it (`op`).
 * `async` follows the datamodel: some explicit setters have an `Async.` form, some not.
 */
function vmSetter(field: string, type: string, options: { op?: string; async: boolean }): MethodSpec {
  const { op } = options
  return defineMethod({
    name: `VM.set_${field}`,
    params: [
      ['self', 'VM ref'],
      ['value', type],
    ],
    result: 'void',
    async: options.async,
    handler: (ctx, [self, value]) => {
      ctx.core.db.get('VM', self)
      if (op !== undefined) assertVmOperationValid(ctx.core.db, self, op)
      ctx.core.db.update('VM', self, { [field]: value })
      updateVmAllowedOperations(ctx.core.db, self)
    },
  })
}

function memoryRangeSetter(name: string, fields: readonly [string, string], op: string): MethodSpec {
  return defineMethod({
    name: `VM.set_${name}`,
    params: [
      ['self', 'VM ref'],
      ['min', 'int'],
      ['max', 'int'],
    ],
    result: 'void',
    async: true,
    handler: (ctx, [self, min, max]) =>
      withVmOperation(ctx, self, op, () => {
        setMemory(ctx.core, self, { [fields[0]]: min, [fields[1]]: max })
      }),
  })
}

function memorySetter(field: string, op: string): MethodSpec {
  return defineMethod({
    name: `VM.set_${field}`,
    params: [
      ['self', 'VM ref'],
      ['value', 'int'],
    ],
    result: 'void',
    handler: (ctx, [self, value]) =>
      withVmOperation(ctx, self, op, () => {
        setMemory(ctx.core, self, { [field]: value })
      }),
  })
}

/** Sets memory fields after checking static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max. */
function setMemory(core: SimulatorCore, vm: string, patch: Readonly<Record<string, number>>): void {
  const merged = { ...core.db.get('VM', vm), ...patch }
  const [smin, dmin, dmax, smax] = [
    merged.memory_static_min,
    merged.memory_dynamic_min,
    merged.memory_dynamic_max,
    merged.memory_static_max,
  ].map(Number) as [number, number, number, number]
  if (!(smin <= dmin && dmin <= dmax && dmax <= smax)) throw new XapiError('MEMORY_CONSTRAINT_VIOLATION_ORDER', [])
  core.db.update('VM', vm, { ...patch, memory_target: dmax })
}

/** The explicit VM setters: memory, vCPUs, the settings Xen Orchestra sets on replicas, templates, blocked operations. */
export const vmSetterMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'VM.set_memory_limits',
    params: [
      ['self', 'VM ref'],
      ['static_min', 'int'],
      ['static_max', 'int'],
      ['dynamic_min', 'int'],
      ['dynamic_max', 'int'],
    ],
    result: 'void',
    async: true,
    handler: (ctx, [self, smin, smax, dmin, dmax]) =>
      withVmOperation(ctx, self, 'changing_memory_limits', () => {
        setMemory(ctx.core, self, {
          memory_static_min: smin,
          memory_static_max: smax,
          memory_dynamic_min: dmin,
          memory_dynamic_max: dmax,
        })
      }),
  }),
  memoryRangeSetter('memory_static_range', ['memory_static_min', 'memory_static_max'], 'changing_static_range'),
  memoryRangeSetter('memory_dynamic_range', ['memory_dynamic_min', 'memory_dynamic_max'], 'changing_dynamic_range'),
  memorySetter('memory_static_max', 'changing_static_range'),
  memorySetter('memory_static_min', 'changing_static_range'),
  memorySetter('memory_dynamic_max', 'changing_dynamic_range'),
  memorySetter('memory_dynamic_min', 'changing_dynamic_range'),
  defineMethod({
    name: 'VM.set_memory',
    params: [
      ['self', 'VM ref'],
      ['value', 'int'],
    ],
    result: 'void',
    async: true,
    handler: (ctx, [self, value]) =>
      withVmOperation(ctx, self, 'changing_memory_limits', () => {
        const smin = Math.min(Number(ctx.core.db.get('VM', self).memory_static_min), value)
        setMemory(ctx.core, self, {
          memory_static_min: smin,
          memory_dynamic_min: value,
          memory_dynamic_max: value,
          memory_static_max: value,
        })
      }),
  }),
  defineMethod({
    name: 'VM.set_VCPUs_max',
    params: [
      ['self', 'VM ref'],
      ['value', 'int'],
    ],
    result: 'void',
    handler: (ctx, [self, value]) =>
      withVmOperation(ctx, self, 'changing_VCPUs', () => {
        if (value < 1) throw new XapiError('VALUE_NOT_SUPPORTED', ['VCPUs_max', String(value), 'must be at least 1'])
        const atStartup = Number(ctx.core.db.get('VM', self).VCPUs_at_startup)
        ctx.core.db.update('VM', self, { VCPUs_max: value, VCPUs_at_startup: Math.min(atStartup, value) })
      }),
  }),
  defineMethod({
    name: 'VM.set_VCPUs_at_startup',
    params: [
      ['self', 'VM ref'],
      ['value', 'int'],
    ],
    result: 'void',
    handler: (ctx, [self, value]) =>
      withVmOperation(ctx, self, 'changing_VCPUs', () => {
        const max = Number(ctx.core.db.get('VM', self).VCPUs_max)
        if (value < 1 || value > max) {
          throw new XapiError('VALUE_NOT_SUPPORTED', [
            'VCPUs_at_startup',
            String(value),
            `must be between 1 and VCPUs_max (${max})`,
          ])
        }
        ctx.core.db.update('VM', self, { VCPUs_at_startup: value })
      }),
  }),
  vmSetter('HVM_boot_policy', 'string', { op: 'changing_VCPUs', async: false }),
  vmSetter('domain_type', 'enum domain_type', { async: false }),
  vmSetter('actions_after_crash', 'enum on_crash_behaviour', { async: true }),
  vmSetter('order', 'int', { async: true }),
  vmSetter('start_delay', 'int', { async: true }),
  vmSetter('shutdown_delay', 'int', { async: true }),
  vmSetter('ha_restart_priority', 'string', { async: false }),
  vmSetter('ha_always_run', 'bool', { async: false }),
  vmSetter('has_vendor_device', 'bool', { op: 'changing_VCPUs', async: true }),
  vmSetter('suspend_VDI', 'VDI ref', { async: true }),
  vmSetter('HVM_shadow_multiplier', 'float', { op: 'changing_shadow_memory', async: false }),
  vmSetter('bios_strings', '(string -> string) map', { async: true }),
  vmSetter('NVRAM', '(string -> string) map', { op: 'changing_NVRAM', async: false }),
  defineMethod({
    name: 'VM.add_to_NVRAM',
    params: [
      ['self', 'VM ref'],
      ['key', 'string'],
      ['value', 'string'],
    ],
    result: 'void',
    handler: (ctx, [self, key, value]) => {
      const nvram = ctx.core.db.get('VM', self).NVRAM as Readonly<Record<string, string>>
      ctx.core.db.update('VM', self, { NVRAM: { ...nvram, [key]: value } })
    },
  }),
  defineMethod({
    name: 'VM.remove_from_NVRAM',
    params: [
      ['self', 'VM ref'],
      ['key', 'string'],
    ],
    result: 'void',
    handler: (ctx, [self, key]) => {
      const { [key]: _removed, ...rest } = ctx.core.db.get('VM', self).NVRAM as Readonly<Record<string, string>>
      ctx.core.db.update('VM', self, { NVRAM: rest })
    },
  }),
  // RW fields whose XAPI setters do more than store the value.
  defineMethod({
    name: 'VM.set_is_a_template',
    params: [
      ['self', 'VM ref'],
      ['value', 'bool'],
    ],
    result: 'void',
    handler: async (ctx, [self, value]) => {
      if (value) await withVmOperation(ctx, self, 'make_into_template', () => undefined)
      const patch: Record<string, unknown> = { is_a_template: value }
      if (!value) patch.is_default_template = false
      ctx.core.db.update('VM', self, patch)
      updateVmAllowedOperations(ctx.core.db, self)
    },
  }),
  ...blockedOperationsSetters(),
  ...blockedOperationsSetters(),
]

/** `VM.{set,add_to,remove_from}_blocked_operations` refresh `allowed_operations` afterwards. */
function blockedOperationsSetters(): MethodSpec[] {
  const refresh = (ctx: CallContext, vm: string, next: Readonly<Record<string, string>>) => {
    ctx.core.db.update('VM', vm, { blocked_operations: next })
    updateVmAllowedOperations(ctx.core.db, vm)
  }
  const current = (ctx: CallContext, vm: string) =>
    ctx.core.db.get('VM', vm).blocked_operations as Readonly<Record<string, string>>
  return [
    defineMethod({
      name: 'VM.set_blocked_operations',
      params: [
        ['self', 'VM ref'],
        ['value', '(enum vm_operations -> string) map'],
      ],
      result: 'void',
      handler: (ctx, [self, value]) => refresh(ctx, self, value),
    }),
    defineMethod({
      name: 'VM.add_to_blocked_operations',
      params: [
        ['self', 'VM ref'],
        ['key', 'enum vm_operations'],
        ['value', 'string'],
      ],
      result: 'void',
      handler: (ctx, [self, key, value]) => {
        const map = current(ctx, self)
        if (Object.hasOwn(map, key)) throw new XapiError('MAP_DUPLICATE_KEY', ['VM', 'blocked_operations', self, key])
        refresh(ctx, self, { ...map, [key]: value })
      },
    }),
    defineMethod({
      name: 'VM.remove_from_blocked_operations',
      params: [
        ['self', 'VM ref'],
        ['key', 'enum vm_operations'],
      ],
      result: 'void',
      handler: (ctx, [self, key]) => {
        const { [key]: removed, ...rest } = current(ctx, self)
        if (removed !== undefined) refresh(ctx, self, rest)
      },
    }),
  ]
}
