import { readConstructorRecord } from '../rpc/constructor-record'
import { defineMethod, type MethodSpec } from '../rpc/method'

/** Secrets hold credentials; `secret.get_value` and the generated getters read them back. */
export const secretMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'secret.create',
    params: [['args', 'record secret']],
    result: 'secret ref',
    async: true,
    handler: (ctx, [record]) => ctx.core.db.create('secret', readConstructorRecord('secret', record)),
  }),
  defineMethod({
    name: 'secret.destroy',
    params: [['self', 'secret ref']],
    result: 'void',
    async: true,
    handler: (ctx, [self]) => {
      ctx.core.db.get('secret', self)
      ctx.core.db.destroy('secret', self)
    },
  }),
]
