import type { SimulatorCore } from '../core'
import type { XapiRecord } from '../db/database'
import { xapiDateToMillis, xapiNow } from '../model/values'
import { uuidInvalid } from '../rpc/errors'
import { defineMethod, type MethodSpec } from '../rpc/method'

/** The class an XAPI message `cls` names, among those the simulator keeps. */
const CLASS_OF_CLS: Readonly<Record<string, string>> = { VM: 'VM', Host: 'host', SR: 'SR', Pool: 'pool', VDI: 'VDI' }

/**
 * XAPI messages (alerts). They are not database objects in XAPI; here they are kept with the others
 * and, as in XAPI, only ever appear as `add` and `del` events of class `message`.
 */
export function createMessage(
  core: SimulatorCore,
  message: { name: string; priority: number; cls: string; objUuid: string; body: string; uuid?: string },
): string {
  const cls = CLASS_OF_CLS[message.cls]
  const target = core.db.findByUuid(message.objUuid)
  if (cls === undefined || target === undefined || target.cls !== cls) throw uuidInvalid(message.cls, message.objUuid)
  return core.db.create('message', {
    ...(message.uuid === undefined ? {} : { uuid: message.uuid }),
    name: message.name,
    priority: message.priority,
    cls: message.cls,
    obj_uuid: message.objUuid,
    timestamp: xapiNow(),
    body: message.body,
  })
}

function messagesWhere(core: SimulatorCore, keep: (message: XapiRecord) => boolean): Record<string, XapiRecord> {
  const result: Record<string, XapiRecord> = {}
  for (const [ref, record] of core.db.entries('message')) if (keep(record)) result[ref] = record
  return result
}

const MESSAGE_MAP = '(message ref -> record message) map'

export const messageMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'message.create',
    params: [
      ['name', 'string'],
      ['priority', 'int'],
      ['cls', 'enum cls'],
      ['obj_uuid', 'string'],
      ['body', 'string'],
    ],
    result: 'message ref',
    handler: (ctx, [name, priority, cls, objUuid, body]) =>
      createMessage(ctx.core, { name, priority, cls, objUuid, body }),
  }),
  defineMethod({
    name: 'message.destroy',
    params: [['self', 'message ref']],
    result: 'void',
    handler: (ctx, [self]) => {
      ctx.core.db.get('message', self)
      ctx.core.db.destroy('message', self)
    },
  }),
  defineMethod({
    name: 'message.destroy_many',
    params: [['messages', 'message ref set']],
    result: 'void',
    async: true,
    handler: (ctx, [messages]) => {
      for (const ref of messages) if (ctx.core.db.exists('message', ref)) ctx.core.db.destroy('message', ref)
    },
  }),
  defineMethod({
    name: 'message.get_since',
    params: [['since', 'datetime']],
    result: MESSAGE_MAP,
    handler: (ctx, [since]) => {
      const after = xapiDateToMillis(since)
      return messagesWhere(ctx.core, (message) => xapiDateToMillis(String(message.timestamp)) > after)
    },
  }),
  defineMethod({
    name: 'message.get',
    params: [
      ['cls', 'enum cls'],
      ['obj_uuid', 'string'],
      ['since', 'datetime'],
    ],
    result: MESSAGE_MAP,
    handler: (ctx, [cls, objUuid, since]) => {
      const after = xapiDateToMillis(since)
      return messagesWhere(
        ctx.core,
        (message) =>
          message.cls === cls && message.obj_uuid === objUuid && xapiDateToMillis(String(message.timestamp)) > after,
      )
    },
  }),
]
