import { randomUUID } from 'node:crypto'
import type { StorageLink } from '../../integration/storage-link'
import { createVdi, destroyVdi, intentOfRecord } from '../../integration/vdi-factory'
import { isNullRef } from '../../model/values'
import { readConstructorRecord } from '../../rpc/constructor-record'
import { XapiError } from '../../rpc/errors'
import { defineMethod, type MethodSpec } from '../../rpc/method'
import { BLOCK_SIZE } from '../../storage/sizes'
import { withVdiOperation } from '../vdi-operations'

/**
 * `VDI.create`, `destroy`, `forget`, `resize`, `snapshot`, `clone` and `copy` with XAPI's checks
 * (`Xapi_vdi`, `message_forwarding.ml`) over the storage manager.
 */

/**
 * `VDI.copy` into an existing VDI (`Sm_fs_ops.copy_vdi`): with `base`, the blocks that differ from it;
 * without, every block the source holds, and zeros where the target holds data the source does not.
 */
async function copyInto(link: StorageLink, vdi: string, into: string, base: string | undefined): Promise<void> {
  const source = link.engineOfVdi(vdi)
  const target = link.engineOfVdi(into)
  const sourceUuid = link.vdiUuid(vdi)
  const targetUuid = link.vdiUuid(into)
  const blocks = await link.call(async () => {
    if (base !== undefined) {
      return source.blocksToExport(sourceUuid, { sr: link.engineOfVdi(base), vdi: link.vdiUuid(base) })
    }
    const union = new Set([...(await source.blocksToExport(sourceUuid)), ...(await target.blocksToExport(targetUuid))])
    return [...union].sort((a, b) => a - b)
  })
  const sourceBlocks = Math.ceil(Number(link.core.db.get('VDI', vdi).virtual_size) / BLOCK_SIZE)
  async function* writes() {
    for (const index of blocks) {
      yield { index, data: index < sourceBlocks ? await source.readBlock(sourceUuid, index) : Buffer.alloc(BLOCK_SIZE) }
    }
  }
  await link.call(() => target.writeBlocks(targetUuid, writes()))
}

/** `VDI.copy` to a new VDI: SM copies the merged contents (synthetic blocks stay synthetic). */
export async function copyToNewVdi(link: StorageLink, vdi: string, sr: string): Promise<string> {
  const source = link.core.db.get('VDI', vdi)
  const uuid = randomUUID()
  const targetSr = String(link.core.db.get('SR', sr).uuid)
  await link.intents.creating(uuid, { ...intentOfRecord(source), read_only: false, sm_config: {} }, () =>
    link.call(() => link.storage.copyVdi(String(source.uuid), targetSr, { uuid })),
  )
  return link.core.db.refOfUuid('VDI', uuid)
}

export function vdiLifecycleMethods(link: StorageLink): MethodSpec[] {
  const { core } = link
  return [
    defineMethod({
      name: 'VDI.create',
      params: [['args', 'record VDI']],
      result: 'VDI ref',
      async: true,
      handler: async (_ctx, [record]) => {
        const values = readConstructorRecord('VDI', record)
        const sr = String(values.SR)
        core.db.get('SR', sr)
        return createVdi(link, sr, intentOfRecord(values), Number(values.virtual_size))
      },
    }),
    defineMethod({
      name: 'VDI.destroy',
      params: [['self', 'VDI ref']],
      result: 'void',
      async: true,
      handler: (ctx, [self]) => withVdiOperation(ctx, [self], 'destroy', () => destroyVdi(link, self)),
    }),
    defineMethod({
      name: 'VDI.forget',
      params: [['vdi', 'VDI ref']],
      result: 'void',
      async: true,
      // XAPI only drops the record; SM still has the VDI, and the next SR.scan introduces it again.
      handler: (ctx, [vdi]) =>
        withVdiOperation(ctx, [vdi], 'forget', () => {
          core.db.destroy('VDI', vdi)
        }),
    }),
    defineMethod({
      name: 'VDI.resize',
      params: [
        ['vdi', 'VDI ref'],
        ['size', 'int'],
      ],
      result: 'void',
      async: true,
      handler: (ctx, [vdi, size]) =>
        withVdiOperation(ctx, [vdi], 'resize', async () => {
          await link.call(() => link.engineOfVdi(vdi).resizeVdi(link.vdiUuid(vdi), size))
        }),
    }),
    defineMethod({
      name: 'VDI.resize_online',
      params: [
        ['vdi', 'VDI ref'],
        ['size', 'int'],
      ],
      result: 'void',
      async: true,
      // Removed in XAPI 1.250 (Inverness) and not reintroduced before xapi 26.16: XCP-ng 8.3 answers this.
      removed: true,
      handler: () => {
        throw new XapiError('MESSAGE_REMOVED', [])
      },
    }),
    ...(['snapshot', 'clone'] as const).map((kind) =>
      defineMethod({
        name: `VDI.${kind}`,
        params: [
          ['vdi', 'VDI ref'],
          ['driver_params', '(string -> string) map', {}],
        ],
        result: 'VDI ref',
        async: true,
        handler: (ctx, [vdi]) =>
          withVdiOperation(ctx, [vdi], kind, async () => {
            const engine = link.engineOfVdi(vdi)
            const uuid = link.vdiUuid(vdi)
            const result = await link.call(() =>
              kind === 'snapshot' ? engine.snapshotVdi(uuid) : engine.cloneVdi(uuid),
            )
            return core.db.refOfUuid('VDI', result.snapshot.uuid)
          }),
      }),
    ),
    defineMethod({
      name: 'VDI.copy',
      params: [
        ['vdi', 'VDI ref'],
        ['sr', 'SR ref'],
        ['base_vdi', 'VDI ref', 'OpaqueRef:NULL'],
        ['into_vdi', 'VDI ref', 'OpaqueRef:NULL'],
      ],
      result: 'VDI ref',
      async: true,
      handler: (ctx, [vdi, sr, baseVdi, intoVdi]) =>
        withVdiOperation(ctx, [vdi], 'copy', async () => {
          const source = core.db.get('VDI', vdi)
          if (source.managed !== true) throw new XapiError('VDI_NOT_MANAGED', [vdi])
          if (!isNullRef(baseVdi)) core.db.get('VDI', baseVdi)
          const base = isNullRef(baseVdi) ? undefined : baseVdi
          if (!isNullRef(intoVdi)) {
            const into = core.db.get('VDI', intoVdi)
            if (into.read_only === true) throw new XapiError('VDI_READONLY', [intoVdi])
            if (Number(into.virtual_size) < Number(source.virtual_size)) {
              throw new XapiError('VDI_TOO_SMALL', [intoVdi, String(source.virtual_size)])
            }
            await copyInto(link, vdi, intoVdi, base)
            return intoVdi
          }
          core.db.get('SR', sr)
          if (base === undefined) return copyToNewVdi(link, vdi, sr)
          const created = await createVdi(
            link,
            sr,
            { ...intentOfRecord(source), read_only: false, sm_config: {} },
            Number(source.virtual_size),
          )
          try {
            await copyInto(link, vdi, created, base)
          } catch (error) {
            await destroyVdi(link, created).catch(() => undefined)
            throw error
          }
          return created
        }),
    }),
  ]
}
