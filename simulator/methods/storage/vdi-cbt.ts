import type { StorageLink } from '../../integration/storage-link'
import type { XapiType } from '../../model/types'
import { cancellableDelay } from '../../rpc/call-context'
import { XapiError } from '../../rpc/errors'
import { defineMethod, type MethodSpec } from '../../rpc/method'
import { smFailure } from '../../storage/errors'
import { withVdiOperation } from '../vdi-operations'

/**
 * Changed block tracking (`VDI.enable_cbt`, `disable_cbt`, `list_changed_blocks`, `data_destroy`) and
 * `VDI.get_nbd_info`, which answers no NBD server (no network has an NBD purpose), so clients export
 * over HTTP.
 */

/** `vdi_nbd_server_info`, the element type of `get_nbd_info`'s (always empty) answer. */
const NBD_INFO: XapiType = {
  kind: 'set',
  of: {
    kind: 'struct',
    fields: {
      exportname: { kind: 'string' },
      address: { kind: 'string' },
      port: { kind: 'int' },
      cert: { kind: 'string' },
      subject: { kind: 'string' },
    },
  },
}

export function vdiCbtMethods(link: StorageLink): MethodSpec[] {
  const { core } = link
  const toggle = (name: 'enable_cbt' | 'disable_cbt') =>
    defineMethod({
      name: `VDI.${name}`,
      params: [['self', 'VDI ref']],
      result: 'void',
      async: true,
      handler: (ctx, [self]) =>
        withVdiOperation(ctx, [self], name, async () => {
          const engine = link.engineOfVdi(self)
          const uuid = link.vdiUuid(self)
          await link.call(() => (name === 'enable_cbt' ? engine.enableCbt(uuid) : engine.disableCbt(uuid)))
        }),
    })
  return [
    toggle('enable_cbt'),
    toggle('disable_cbt'),
    defineMethod({
      name: 'VDI.list_changed_blocks',
      params: [
        ['vdi_from', 'VDI ref'],
        ['vdi_to', 'VDI ref'],
      ],
      result: 'string',
      async: true,
      handler: (ctx, [from, to]) =>
        withVdiOperation(ctx, [to], 'list_changed_blocks', async () => {
          const engine = link.engineOfVdi(to)
          const fromUuid = link.vdiUuid(from)
          // SM works inside the SR of vdi_to: a VDI of another SR is not in its CBT chain.
          if (!engine.has(fromUuid)) throw link.xapiError(smFailure(460, 'Source and target VDI are unrelated'))
          return link.call(() => engine.listChangedBlocks(fromUuid, link.vdiUuid(to)))
        }),
    }),
    defineMethod({
      name: 'VDI.data_destroy',
      params: [['self', 'VDI ref']],
      result: 'void',
      async: true,
      handler: (ctx, [self]) =>
        withVdiOperation(ctx, [self], 'data_destroy', async () => {
          if (core.db.get('VDI', self).type === 'cbt_metadata') return
          // XAPI waits (4 s) for the VDI's VBDs to be unplugged and destroyed, then refuses.
          const deadline = Date.now() + link.storage.knobs.dataDestroyDetachWaitMs
          while ((core.db.get('VDI', self).VBDs as readonly string[]).length > 0) {
            if (Date.now() >= deadline) throw new XapiError('VDI_IN_USE', [self, 'data_destroy'])
            await cancellableDelay(Math.min(50, deadline - Date.now()), ctx.signal)
          }
          await link.call(() => link.engineOfVdi(self).dataDestroyVdi(link.vdiUuid(self)))
        }),
    }),
    defineMethod({
      name: 'VDI.get_nbd_info',
      params: [['self', 'VDI ref']],
      result: NBD_INFO,
      async: true,
      handler: (_ctx, [self]) => {
        if (core.db.get('VDI', self).type === 'cbt_metadata') {
          throw new XapiError('VDI_INCOMPATIBLE_TYPE', [self, 'cbt_metadata'])
        }
        return []
      },
    }),
  ]
}
