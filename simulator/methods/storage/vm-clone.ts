import type { StorageLink } from '../../integration/storage-link'
import { destroyVdi } from '../../integration/vdi-factory'
import { isNullRef } from '../../model/values'
import type { CallContext } from '../../rpc/call-context'
import { defineMethod, type MethodSpec } from '../../rpc/method'
import { destroyVm } from '../vm'
import { withVmOperation } from '../vm-operations'
import { copyToNewVdi } from './vdi-lifecycle'
import { completeVmCopy, copyVbd, copyVif, copyVmRecord } from './vm-copy'

/**
 * `VM.clone` (each disk `VDI.clone`d) and `VM.copy` (each disk fully copied, to one SR or each to its
 * own): a new top-level VM, a template if the source is one (cloning a snapshot gives a template), a new
 * MAC seed, suspended with a copy of the memory image if the source is.
 */

type CloneOp = 'clone' | 'copy'

async function cloneVm(
  link: StorageLink,
  ctx: CallContext,
  vm: string,
  newName: string,
  op: CloneOp,
  sr: string,
): Promise<string> {
  const { core } = link
  const { db } = core
  const source = db.get('VM', vm)
  const duplicate = (vdi: string): Promise<string> => {
    if (op === 'copy') return copyToNewVdi(link, vdi, isNullRef(sr) ? String(db.get('VDI', vdi).SR) : sr)
    return link
      .call(() => link.engineOfVdi(vdi).cloneVdi(link.vdiUuid(vdi)))
      .then((result) => db.refOfUuid('VDI', result.snapshot.uuid))
  }
  const created: string[] = []
  const disks = new Map<string, string>()
  let newVm: string | undefined
  try {
    for (const vbd of source.VBDs as readonly string[]) {
      const record = db.get('VBD', vbd)
      const vdi = String(record.VDI)
      if (record.type !== 'Disk' || record.empty === true || isNullRef(vdi)) continue
      const copy = await duplicate(vdi)
      created.push(copy)
      disks.set(vdi, copy)
    }
    const suspended = source.power_state === 'Suspended'
    newVm = copyVmRecord(core, vm, {
      op,
      newName,
      powerState: suspended ? 'Suspended' : 'Halted',
      operationKey: ctx.operationKey,
    })
    for (const vbd of source.VBDs as readonly string[]) {
      const record = db.get('VBD', vbd)
      const vdi = String(record.VDI)
      copyVbd(core, vbd, newVm, disks.get(vdi) ?? (record.type === 'CD' ? vdi : 'OpaqueRef:NULL'))
    }
    for (const vif of source.VIFs as readonly string[]) copyVif(core, vif, newVm, false)
    const image = String(source.suspend_VDI)
    if (suspended && !isNullRef(image)) {
      const copy = await duplicate(image)
      created.push(copy)
      db.update('VM', newVm, { suspend_VDI: copy })
    }
    completeVmCopy(core, newVm, ctx.operationKey)
    return newVm
  } catch (error) {
    if (newVm !== undefined && db.exists('VM', newVm)) destroyVm(core, newVm)
    for (const vdi of created) if (db.exists('VDI', vdi)) await destroyVdi(link, vdi).catch(() => undefined)
    throw error
  }
}

export function vmCloneMethods(link: StorageLink): MethodSpec[] {
  return [
    defineMethod({
      name: 'VM.clone',
      params: [
        ['vm', 'VM ref'],
        ['new_name', 'string'],
      ],
      result: 'VM ref',
      async: true,
      handler: (ctx, [vm, newName]) =>
        withVmOperation(ctx, vm, 'clone', () => cloneVm(link, ctx, vm, newName, 'clone', 'OpaqueRef:NULL')),
    }),
    defineMethod({
      name: 'VM.copy',
      params: [
        ['vm', 'VM ref'],
        ['new_name', 'string'],
        ['sr', 'SR ref'],
      ],
      result: 'VM ref',
      async: true,
      handler: (ctx, [vm, newName, sr]) => {
        if (!isNullRef(sr)) link.core.db.get('SR', sr)
        return withVmOperation(ctx, vm, 'copy', () => cloneVm(link, ctx, vm, newName, 'copy', sr))
      },
    }),
  ]
}
