import { defineMethod, type MethodSpec } from '../rpc/method'

/** The explicit task methods (only `task.cancel` has an `Async.` form). */
export const taskMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'task.create',
    params: [
      ['label', 'string'],
      ['description', 'string'],
    ],
    result: 'task ref',
    handler: (ctx, [label, description]) => ctx.core.tasks.create({ label, description }),
  }),
  defineMethod({
    name: 'task.destroy',
    params: [['self', 'task ref']],
    result: 'void',
    handler: (ctx, [self]) => ctx.core.tasks.destroy(self),
  }),
  defineMethod({
    name: 'task.cancel',
    params: [['task', 'task ref']],
    result: 'void',
    async: true,
    handler: (ctx, [task]) => ctx.core.tasks.requestCancel(task, ctx.operationKey),
  }),
  taskSetter('status', 'enum task_status_type'),
  taskSetter('progress', 'float'),
  taskSetter('result', 'string'),
  taskSetter('error_info', 'string set'),
]

function taskSetter(field: string, type: string): MethodSpec {
  return defineMethod({
    name: `task.set_${field}`,
    params: [
      ['self', 'task ref'],
      ['value', type],
    ],
    result: 'void',
    handler: (ctx, [self, value]) => {
      ctx.core.db.get('task', self)
      ctx.core.db.update('task', self, { [field]: value })
    },
  })
}
