import type { SimulatorCore } from '../core'
import { EPOCH, isNullRef, NULL_REF, newUuid } from '../model/values'
import type { CallContext } from '../rpc/call-context'
import { readConstructorRecord } from '../rpc/constructor-record'
import { XapiError } from '../rpc/errors'
import { defineMethod, type MethodSpec } from '../rpc/method'
import { assertVmOperationValid, updateVmAllowedOperations, withVmOperation } from './vm-operations'
import { bootVm, chooseHost, haltVm, rebootVm } from './vm-power'

/**
 * VM methods that do not touch disk contents. Snapshot, checkpoint, clone, copy, revert, suspend and
 * resume need the storage engine and are added by the storage integration (see docs/simulator.md).
 */

/** `VM.create` (XAPI `Xapi_vm.create`): a Halted VM with its metrics object and a MAC seed. */
export function createVm(core: SimulatorCore, record: Readonly<Record<string, unknown>>): string {
  const { db } = core
  const values = readConstructorRecord('VM', record)
  const otherConfig = { ...(values.other_config as Record<string, string>) }
  otherConfig.mac_seed ??= newUuid()
  const suspended = values.power_state === 'Suspended'
  if (suspended && isNullRef(String(values.suspend_VDI))) {
    throw new XapiError('VM_BAD_POWER_STATE', [NULL_REF, 'halted', 'suspended'])
  }
  const metrics = db.create('VM_metrics', {
    memory_actual: 0,
    VCPUs_number: 0,
    VCPUs_utilisation: { '0': 0 },
    start_time: EPOCH,
    install_time: EPOCH,
    last_updated: EPOCH,
    current_domain_type: suspended ? values.domain_type : 'unspecified',
  })
  const domainType =
    values.domain_type === 'unspecified' ? (values.HVM_boot_policy === '' ? 'pv' : 'hvm') : values.domain_type
  // XAPI ignores these members of the constructor record.
  for (const ignored of [
    'blocked_operations',
    'protection_policy',
    'is_snapshot_from_vmpp',
    'snapshot_schedule',
    'is_vmss_snapshot',
  ]) {
    delete values[ignored]
  }
  const vm = db.create('VM', {
    ...values,
    power_state: suspended ? 'Suspended' : 'Halted',
    suspend_VDI: suspended ? values.suspend_VDI : NULL_REF,
    last_booted_record: suspended ? values.last_booted_record : '',
    last_boot_CPU_flags: suspended ? values.last_boot_CPU_flags : {},
    other_config: otherConfig,
    domain_type: domainType,
    metrics,
    domid: -1,
  })
  updateVmAllowedOperations(db, vm)
  return vm
}

/** `VM.destroy`: the VM and its VBDs, VIFs, consoles and metrics go; its VDIs stay. */
export function destroyVm(core: SimulatorCore, vm: string): void {
  const { db } = core
  const record = db.get('VM', vm)
  for (const [cls, field] of [
    ['VBD', 'VBDs'],
    ['VIF', 'VIFs'],
    ['console', 'consoles'],
  ] as const) {
    for (const ref of record[field] as readonly string[]) if (db.exists(cls, ref)) db.destroy(cls, ref)
  }
  for (const [cls, field] of [
    ['VM_metrics', 'metrics'],
    ['VM_guest_metrics', 'guest_metrics'],
  ] as const) {
    const ref = String(record[field])
    if (db.exists(cls, ref)) db.destroy(cls, ref)
  }
  db.destroy('VM', vm)
}

/** `0`..`254` minus the devices the VM's VBDs already use (by userdevice or device name). */
export function allowedVbdDevices(core: SimulatorCore, vm: string): string[] {
  const used = new Set<number>()
  for (const vbd of core.db.get('VM', vm).VBDs as readonly string[]) {
    const record = core.db.get('VBD', vbd)
    for (const name of [String(record.userdevice), String(record.device)]) {
      const n = deviceNumber(name)
      if (n !== undefined) used.add(n)
    }
  }
  const limit = core.db.get('VM', vm).is_control_domain === true ? 255 : 254
  const devices: string[] = []
  for (let n = 0; n <= limit; n++) if (!used.has(n)) devices.push(String(n))
  return devices
}

/** The disk number of `3`, `xvdd`, `hdd` or `sdd`, if it is one. */
export function deviceNumber(name: string): number | undefined {
  if (/^[0-9]+$/.test(name)) return Number(name)
  const match = /^(?:xvd|hd|sd)([a-z]+)$/.exec(name)
  if (match === null) return undefined
  let n = 0
  for (const c of match[1]!) n = n * 26 + (c.charCodeAt(0) - 96)
  return n - 1
}

function allowedVifDevices(core: SimulatorCore, vm: string): string[] {
  const used = new Set(
    (core.db.get('VM', vm).VIFs as readonly string[]).map((vif) => String(core.db.get('VIF', vif).device)),
  )
  return Array.from({ length: 16 }, (_, i) => String(i)).filter((device) => !used.has(device))
}

function vmPowerOp(name: string, op: string, run: (ctx: CallContext, vm: string) => unknown): MethodSpec {
  return defineMethod({
    name: `VM.${name}`,
    params: [['vm', 'VM ref']],
    result: 'void',
    async: true,
    handler: (ctx, [vm]) => withVmOperation(ctx, vm, op, () => run(ctx, vm)),
  })
}

/** `<class>.create_new_blob`: a blob named in its owner's `blobs` map. */
function blobCreator(cls: string, ownerParam: string): MethodSpec {
  return defineMethod({
    name: `${cls}.create_new_blob`,
    params: [
      [ownerParam, `${cls} ref`],
      ['name', 'string'],
      ['mime_type', 'string'],
      ['public', 'bool', false],
    ],
    result: 'blob ref',
    async: true,
    handler: (ctx, [owner, name, mimeType, isPublic]) => {
      const { db } = ctx.core
      const blobs = db.get(cls, owner).blobs as Readonly<Record<string, string>>
      const blob = db.create('blob', {
        name_label: name,
        mime_type: mimeType,
        public: isPublic,
        size: 0,
        last_updated: EPOCH,
      })
      db.update(cls, owner, { blobs: { ...blobs, [name]: blob } })
      return blob
    },
  })
}

export const blobOwnerMethods: readonly MethodSpec[] = [
  blobCreator('pool', 'pool'),
  blobCreator('host', 'host'),
  blobCreator('VM', 'vm'),
  blobCreator('SR', 'sr'),
  blobCreator('network', 'network'),
]

export const vmMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'VM.create',
    params: [['args', 'record VM']],
    result: 'VM ref',
    async: true,
    handler: (ctx, [record]) => createVm(ctx.core, record),
  }),
  defineMethod({
    name: 'VM.destroy',
    params: [['self', 'VM ref']],
    result: 'void',
    async: true,
    handler: (ctx, [self]) => withVmOperation(ctx, self, 'destroy', () => destroyVm(ctx.core, self)),
  }),
  defineMethod({
    name: 'VM.start',
    params: [
      ['vm', 'VM ref'],
      ['start_paused', 'bool'],
      ['force', 'bool'],
    ],
    result: 'void',
    async: true,
    handler: (ctx, [vm, paused]) =>
      withVmOperation(ctx, vm, 'start', () =>
        bootVm(ctx.core, vm, chooseHost(ctx.core, ctx.core.db.get('VM', vm)), paused),
      ),
  }),
  defineMethod({
    name: 'VM.start_on',
    params: [
      ['vm', 'VM ref'],
      ['host', 'host ref'],
      ['start_paused', 'bool'],
      ['force', 'bool'],
    ],
    result: 'void',
    async: true,
    handler: (ctx, [vm, host, paused]) => {
      ctx.core.db.get('host', host)
      return withVmOperation(ctx, vm, 'start_on', () => bootVm(ctx.core, vm, host, paused))
    },
  }),
  vmPowerOp('clean_shutdown', 'clean_shutdown', (ctx, vm) => haltVm(ctx.core, vm)),
  vmPowerOp('hard_shutdown', 'hard_shutdown', (ctx, vm) => haltVm(ctx.core, vm)),
  vmPowerOp('shutdown', 'shutdown', (ctx, vm) => haltVm(ctx.core, vm)),
  vmPowerOp('clean_reboot', 'clean_reboot', (ctx, vm) => rebootVm(ctx.core, vm)),
  vmPowerOp('hard_reboot', 'hard_reboot', (ctx, vm) => rebootVm(ctx.core, vm)),
  vmPowerOp('pause', 'pause', (ctx, vm) => {
    ctx.core.db.update('VM', vm, { power_state: 'Paused' })
  }),
  vmPowerOp('unpause', 'unpause', (ctx, vm) => {
    ctx.core.db.update('VM', vm, { power_state: 'Running' })
  }),
  defineMethod({
    name: 'VM.power_state_reset',
    params: [['vm', 'VM ref']],
    result: 'void',
    async: true,
    handler: async (ctx, [vm]) => {
      ctx.core.db.update('VM', vm, { current_operations: {} })
      await haltVm(ctx.core, vm)
    },
  }),
  defineMethod({
    name: 'VM.snapshot_with_quiesce',
    params: [
      ['vm', 'VM ref'],
      ['new_name', 'string'],
    ],
    result: 'VM ref',
    async: true,
    removed: true,
    handler: () => {
      throw new XapiError('MESSAGE_REMOVED', [])
    },
  }),
  defineMethod({
    name: 'VM.get_allowed_VBD_devices',
    params: [['vm', 'VM ref']],
    result: 'string set',
    handler: (ctx, [vm]) => allowedVbdDevices(ctx.core, vm),
  }),
  defineMethod({
    name: 'VM.get_allowed_VIF_devices',
    params: [['vm', 'VM ref']],
    result: 'string set',
    handler: (ctx, [vm]) => allowedVifDevices(ctx.core, vm),
  }),
  defineMethod({
    name: 'VM.update_allowed_operations',
    params: [['self', 'VM ref']],
    result: 'void',
    async: true,
    handler: (ctx, [self]) => updateVmAllowedOperations(ctx.core.db, self),
  }),
  defineMethod({
    name: 'VM.assert_operation_valid',
    params: [
      ['self', 'VM ref'],
      ['op', 'enum vm_operations'],
    ],
    result: 'void',
    async: true,
    handler: (ctx, [self, op]) => assertVmOperationValid(ctx.core.db, self, op),
  }),
  defineMethod({
    name: 'VM.get_boot_record',
    params: [['self', 'VM ref']],
    result: 'record VM',
    handler: (ctx, [self]) => ctx.core.db.get('VM', self),
  }),
]
