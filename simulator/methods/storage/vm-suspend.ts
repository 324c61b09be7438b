import type { StorageLink } from '../../integration/storage-link'
import { createSuspendImage } from '../../integration/suspend-image'
import { destroyVdi } from '../../integration/vdi-factory'
import { NULL_REF, xapiNow } from '../../model/values'
import { defineMethod, type MethodSpec } from '../../rpc/method'
import { updateVdiAllowedOperations } from '../vdi-operations'
import { updateVmAllowedOperations, withVmOperation } from '../vm-operations'
import { bootVm, chooseHost } from '../vm-power'

/**
 * Suspend and resume: a running domain writes its memory to a suspend image and goes (its disks are
 * detached on the host, its VBDs stay `currently_attached` as XAPI shows them for a suspended VM);
 * resuming attaches the disks, starts the domain and drops the image. `VM.checkpoint` does both.
 */

/** `checkpoint`: the VM keeps its host (`force_state_reset` leaves `resident_on` during a checkpoint). */
export async function suspendDomain(
  link: StorageLink,
  vm: string,
  options: { checkpoint?: boolean } = {},
): Promise<void> {
  const { core } = link
  const { db } = core
  const image = await createSuspendImage(link, vm)
  const record = db.get('VM', vm)
  try {
    for (const vbd of record.VBDs as readonly string[]) await core.devices.detachVbd(core, vbd)
  } catch (error) {
    await destroyVdi(link, image).catch(() => undefined)
    throw error
  }
  db.update('VM', vm, {
    power_state: 'Suspended',
    suspend_VDI: image,
    ...(options.checkpoint === true ? {} : { resident_on: NULL_REF }),
    domid: -1,
  })
  const metrics = String(record.metrics)
  if (db.exists('VM_metrics', metrics)) {
    db.update('VM_metrics', metrics, { state: [], last_updated: xapiNow(), VCPUs_number: 0, memory_actual: 0 })
  }
  for (const console of record.consoles as readonly string[])
    if (db.exists('console', console)) db.destroy('console', console)
  for (const vbd of record.VBDs as readonly string[]) updateVdiAllowedOperations(db, String(db.get('VBD', vbd).VDI))
  updateVmAllowedOperations(db, vm)
}

export async function resumeDomain(link: StorageLink, vm: string, host: string, paused: boolean): Promise<void> {
  const { core } = link
  await bootVm(core, vm, host, paused)
  await core.devices.discardSuspendImage(core, vm)
  updateVmAllowedOperations(core.db, vm)
}

export function vmSuspendMethods(link: StorageLink): MethodSpec[] {
  const { core } = link
  return [
    defineMethod({
      name: 'VM.suspend',
      params: [['vm', 'VM ref']],
      result: 'void',
      async: true,
      handler: (ctx, [vm]) => withVmOperation(ctx, vm, 'suspend', () => suspendDomain(link, vm)),
    }),
    defineMethod({
      name: 'VM.resume',
      params: [
        ['vm', 'VM ref'],
        ['start_paused', 'bool'],
        ['force', 'bool'],
      ],
      result: 'void',
      async: true,
      handler: (ctx, [vm, paused]) =>
        withVmOperation(ctx, vm, 'resume', () =>
          resumeDomain(link, vm, chooseHost(core, core.db.get('VM', vm)), paused),
        ),
    }),
    defineMethod({
      name: 'VM.resume_on',
      params: [
        ['vm', 'VM ref'],
        ['host', 'host ref'],
        ['start_paused', 'bool'],
        ['force', 'bool'],
      ],
      result: 'void',
      async: true,
      handler: (ctx, [vm, host, paused]) => {
        core.db.get('host', host)
        return withVmOperation(ctx, vm, 'resume_on', () => resumeDomain(link, vm, host, paused))
      },
    }),
  ]
}
