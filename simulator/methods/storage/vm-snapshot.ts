import type { StorageLink } from '../../integration/storage-link'
import { destroyVdi } from '../../integration/vdi-factory'
import { isNullRef } from '../../model/values'
import { type CallContext, cancellableDelay } from '../../rpc/call-context'
import { defineMethod, type MethodSpec } from '../../rpc/method'
import { withVdiOperation } from '../vdi-operations'
import { destroyVm } from '../vm'
import { withVmOperation } from '../vm-operations'
import { completeVmCopy, copyVbd, copyVif, copyVmRecord, snapshotInfo } from './vm-copy'
import { resumeDomain, suspendDomain } from './vm-suspend'

/**
 * `VM.snapshot` and `VM.checkpoint` (`Xapi_vm_snapshot`, `Xapi_vm_clone.clone`): the disks are
 * snapshotted all or nothing, then the snapshot VM is built (`is_a_snapshot`, a template, `snapshot_of`,
 * halted, or suspended with a snapshot of the memory image for a checkpoint), its VBDs on the new disks
 * (CD drives keep their ISO), its VIFs with the same MACs.
 */

/** The operation probe's counter of VM snapshots and checkpoints in flight in the pool. */
export const SNAPSHOT_PROBE = 'VM.snapshot+VM.checkpoint'

type SnapshotOp = 'snapshot' | 'checkpoint'

async function takeSnapshot(
  link: StorageLink,
  ctx: CallContext,
  vm: string,
  newName: string,
  ignoreVdis: readonly string[],
  op: SnapshotOp,
  info?: Record<string, string>,
): Promise<string> {
  const { core } = link
  const { db } = core
  const source = db.get('VM', vm)
  const vbds = (source.VBDs as readonly string[]).filter((vbd) => !ignoreVdis.includes(String(db.get('VBD', vbd).VDI)))
  const disks = vbds
    .map((vbd) => db.get('VBD', vbd))
    .filter((vbd) => vbd.type === 'Disk' && vbd.empty !== true && !isNullRef(String(vbd.VDI)))
    .map((vbd) => String(vbd.VDI))
  await cancellableDelay(link.knobs.vmSnapshotMs + link.knobs.vmSnapshotPerDiskMs * disks.length, ctx.signal)

  const items = disks.map((vdi) => ({
    sr: String(db.get('SR', String(db.get('VDI', vdi).SR)).uuid),
    vdi: link.vdiUuid(vdi),
  }))
  const results = await withVdiOperation(ctx, disks, 'snapshot', () =>
    link.call(() => link.storage.snapshotMany(items)),
  )
  const snapshots = new Map(disks.map((vdi, i) => [vdi, db.refOfUuid('VDI', results[i]!.snapshot.uuid)]))
  const created: string[] = [...snapshots.values()]
  let snapshotVm: string | undefined
  try {
    const suspended = op === 'checkpoint' && db.get('VM', vm).power_state === 'Suspended'
    snapshotVm = copyVmRecord(core, vm, {
      op,
      newName,
      powerState: suspended ? 'Suspended' : 'Halted',
      operationKey: ctx.operationKey,
      ...(info === undefined ? {} : { snapshotInfo: info }),
    })
    for (const vbd of vbds) {
      const record = db.get('VBD', vbd)
      const vdi = String(record.VDI)
      copyVbd(core, vbd, snapshotVm, snapshots.get(vdi) ?? (record.type === 'CD' ? vdi : 'OpaqueRef:NULL'))
    }
    for (const vif of db.get('VM', vm).VIFs as readonly string[]) copyVif(core, vif, snapshotVm, true)
    const image = String(db.get('VM', vm).suspend_VDI)
    if (suspended && !isNullRef(image)) {
      const engine = link.engineOfVdi(image)
      const result = await link.call(() => engine.snapshotVdi(link.vdiUuid(image)))
      const imageSnapshot = db.refOfUuid('VDI', result.snapshot.uuid)
      created.push(imageSnapshot)
      db.update('VM', snapshotVm, { suspend_VDI: imageSnapshot })
    }
    completeVmCopy(core, snapshotVm, ctx.operationKey)
    return snapshotVm
  } catch (error) {
    if (snapshotVm !== undefined && db.exists('VM', snapshotVm)) destroyVm(core, snapshotVm)
    for (const vdi of created) if (db.exists('VDI', vdi)) await destroyVdi(link, vdi).catch(() => undefined)
    throw error
  }
}

/** Runs `body` counted as one VM snapshot in flight in the pool. */
async function counted<T>(link: StorageLink, body: () => Promise<T>): Promise<T> {
  const end = link.core.probe.begin(SNAPSHOT_PROBE)
  try {
    return await body()
  } finally {
    end()
  }
}

export function vmSnapshotMethods(link: StorageLink): MethodSpec[] {
  const { core } = link
  return [
    defineMethod({
      name: 'VM.snapshot',
      params: [
        ['vm', 'VM ref'],
        ['new_name', 'string'],
        ['ignore_vdis', 'VDI ref set', []],
      ],
      result: 'VM ref',
      async: true,
      handler: (ctx, [vm, newName, ignoreVdis]) =>
        withVmOperation(ctx, vm, 'snapshot', () =>
          counted(link, () => takeSnapshot(link, ctx, vm, newName, ignoreVdis, 'snapshot')),
        ),
    }),
    defineMethod({
      name: 'VM.checkpoint',
      params: [
        ['vm', 'VM ref'],
        ['new_name', 'string'],
      ],
      result: 'VM ref',
      async: true,
      handler: (ctx, [vm, newName]) =>
        withVmOperation(ctx, vm, 'checkpoint', () =>
          counted(link, async () => {
            const record = core.db.get('VM', vm)
            const running = record.power_state === 'Running'
            const host = String(record.resident_on)
            // A running VM is suspended for the checkpoint (its memory image is snapshotted with the disks) and resumed.
            const info = running ? snapshotInfo('Running') : {}
            if (running) await suspendDomain(link, vm, { checkpoint: true })
            let outcome: { ok: true; vm: string } | { ok: false; error: unknown }
            try {
              outcome = { ok: true, vm: await takeSnapshot(link, ctx, vm, newName, [], 'checkpoint', info) }
            } catch (error) {
              outcome = { ok: false, error }
            }
            if (running) await resumeDomain(link, vm, host, false)
            if (!outcome.ok) throw outcome.error
            return outcome.vm
          }),
        ),
    }),
  ]
}
