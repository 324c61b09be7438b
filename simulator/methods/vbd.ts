import type { SimulatorCore } from '../core'
import { isNullRef } from '../model/values'
import { readConstructorRecord } from '../rpc/constructor-record'
import { handleInvalid, XapiError } from '../rpc/errors'
import { defineMethod, type MethodSpec } from '../rpc/method'
import { updateVdiAllowedOperations } from './vdi-operations'
import { allowedVbdDevices, deviceNumber } from './vm'
import { deviceName } from './vm-power'

/** VDI types a VBD may point to (XAPI `Xapi_vbd.create`). */
const ATTACHABLE_VDI_TYPES = new Set([
  'system',
  'user',
  'ephemeral',
  'suspend',
  'crashdump',
  'metadata',
  'rrd',
  'pvs_cache',
])

/** `VBD.create` with XAPI's checks: VM and VDI exist, CD rules, read-only VDIs, device clashes. */
export function createVbd(core: SimulatorCore, record: Readonly<Record<string, unknown>>): string {
  const { db } = core
  const values = readConstructorRecord('VBD', record)
  const vm = String(values.VM)
  const vmRecord = db.find('VM', vm)
  if (vmRecord === undefined) throw handleInvalid('VM', vm)
  const vdi = String(values.VDI)
  const empty = values.empty === true
  if (!empty) {
    const vdiRecord = db.find('VDI', vdi)
    if (vdiRecord === undefined) throw handleInvalid('VDI', vdi)
    if (!ATTACHABLE_VDI_TYPES.has(String(vdiRecord.type))) {
      throw new XapiError('VDI_INCOMPATIBLE_TYPE', [vdi, String(vdiRecord.type)])
    }
  }
  if (values.type === 'CD' && values.mode !== 'RO') throw new XapiError('VBD_CDS_MUST_BE_READONLY', [])
  if (values.type !== 'CD' && empty) throw new XapiError('VBD_NOT_REMOVABLE_MEDIA', ['in constructor'])
  if (values.mode === 'RW' && !isNullRef(vdi) && db.find('VDI', vdi)?.read_only === true) {
    throw new XapiError('VDI_READONLY', [vdi])
  }
  let userdevice = String(values.userdevice)
  const free = allowedVbdDevices(core, vm)
  if (userdevice === 'autodetect') {
    const first = free[0]
    if (first === undefined) throw new XapiError('INVALID_DEVICE', [userdevice])
    userdevice = first
  }
  const number = deviceNumber(userdevice)
  if (number === undefined || number > 255) throw new XapiError('INVALID_DEVICE', [userdevice])
  if (!free.includes(String(number))) throw new XapiError('DEVICE_ALREADY_EXISTS', [userdevice])
  const suspended = vmRecord.power_state === 'Suspended'
  const running = vmRecord.power_state === 'Running' || vmRecord.power_state === 'Paused'
  const ref = db.create('VBD', {
    ...values,
    userdevice,
    VDI: empty ? values.VDI : vdi,
    device: suspended ? values.device : running ? deviceName(userdevice) : '',
    currently_attached: suspended ? values.currently_attached : false,
  })
  updateVbdAllowedOperations(core, ref)
  return ref
}

/** A plausible `VBD.allowed_operations`: media operations for CDs, plug/unplug on live VMs. */
export function updateVbdAllowedOperations(core: SimulatorCore, vbd: string): void {
  const { db } = core
  const record = db.get('VBD', vbd)
  const live = ['Running', 'Paused'].includes(String(db.find('VM', String(record.VM))?.power_state))
  const operations: string[] = []
  if (record.type === 'CD') operations.push(record.empty === true ? 'insert' : 'eject')
  if (live) operations.push(...(record.currently_attached === true ? ['unplug', 'unplug_force', 'pause'] : ['plug']))
  else operations.push('attach')
  db.update('VBD', vbd, { allowed_operations: operations })
}

export const vbdMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'VBD.create',
    params: [['args', 'record VBD']],
    result: 'VBD ref',
    async: true,
    handler: (ctx, [record]) => createVbd(ctx.core, record),
  }),
  defineMethod({
    name: 'VBD.destroy',
    params: [['self', 'VBD ref']],
    result: 'void',
    async: true,
    handler: (ctx, [self]) => {
      const { db } = ctx.core
      const record = db.get('VBD', self)
      if (record.currently_attached === true) {
        const vmUuid = String(db.find('VM', String(record.VM))?.uuid ?? '')
        throw new XapiError('OPERATION_NOT_ALLOWED', [`VBD '${String(record.uuid)}' still attached to '${vmUuid}'`])
      }
      db.destroy('VBD', self)
    },
  }),
  defineMethod({
    name: 'VBD.plug',
    params: [['self', 'VBD ref']],
    result: 'void',
    async: true,
    handler: async (ctx, [self]) => {
      const { db } = ctx.core
      const record = db.get('VBD', self)
      const vm = String(record.VM)
      const state = String(db.get('VM', vm).power_state)
      if (state !== 'Running') throw new XapiError('VM_BAD_POWER_STATE', [vm, 'running', state.toLowerCase()])
      if (record.currently_attached === true) throw new XapiError('DEVICE_ALREADY_ATTACHED', [self])
      await ctx.core.devices.attachVbd(ctx.core, self)
      db.update('VBD', self, { currently_attached: true, device: deviceName(String(record.userdevice)) })
      updateVbdAllowedOperations(ctx.core, self)
      updateVdiAllowedOperations(db, String(record.VDI))
    },
  }),
  ...(['unplug', 'unplug_force'] as const).map((name) =>
    defineMethod({
      name: `VBD.${name}`,
      params: [['self', 'VBD ref']],
      result: 'void',
      async: true,
      handler: async (ctx, [self]) => {
        const { db } = ctx.core
        const record = db.get('VBD', self)
        if (record.currently_attached !== true) throw new XapiError('DEVICE_ALREADY_DETACHED', [self])
        if (name === 'unplug' && record.unpluggable !== true) throw new XapiError('VBD_NOT_UNPLUGGABLE', [self])
        await ctx.core.devices.detachVbd(ctx.core, self)
        db.update('VBD', self, { currently_attached: false })
        updateVbdAllowedOperations(ctx.core, self)
        updateVdiAllowedOperations(db, String(record.VDI))
      },
    }),
  ),
]
