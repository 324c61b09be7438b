import { defineMethod, type MethodSpec } from '../rpc/method'

export const LIST_METHODS = 'system.listMethods'

/**
 * `system.listMethods` takes no session and lists exactly the methods implemented: the xen-api
 * client derives the classes it fetches and watches from the `<Class>.get_all_records` entries.
 */
export const systemMethods: readonly MethodSpec[] = [
  defineMethod({
    name: LIST_METHODS,
    session: false,
    params: [],
    result: 'string set',
    handler: (ctx) => ctx.core.methods.names().sort(),
  }),
]
