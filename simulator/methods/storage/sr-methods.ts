import { reconcileSr } from '../../integration/reconcile'
import type { StorageLink } from '../../integration/storage-link'
import { defineMethod, type MethodSpec } from '../../rpc/method'

/** `SR.scan`: SM re-reads the SR (kicking its GC) and XAPI reconciles its VDI records with what SM has. */
export function srMethods(link: StorageLink): MethodSpec[] {
  return [
    defineMethod({
      name: 'SR.scan',
      params: [['sr', 'SR ref']],
      result: 'void',
      async: true,
      handler: async (_ctx, [sr]) => {
        const engine = link.srEngine(sr)
        await link.call(() => engine.scan())
        reconcileSr(link, engine)
      },
    }),
  ]
}
