import type { XapiRecord } from '../db/database'
import { isNullRef } from '../model/values'
import { XapiError } from '../rpc/errors'
import { BLOCK_SIZE, MiB } from '../storage/sizes'
import { seedOf } from './seeds'
import type { StorageLink } from './storage-link'
import { createVdi } from './vdi-factory'

/**
 * The image a suspended domain leaves (`Xapi_xenops.suspend`): a VDI of type `suspend` named
 * "Suspend image", sized `memory_static_max × 1.2 × 1.05 + 100 MiB` on the VM's suspend SR, holding
 * the VM's memory. Here the memory is synthetic (reproducible bytes, nothing stored), so a
 * memory-enabled backup of a checkpoint exports something real.
 */
export async function createSuspendImage(link: StorageLink, vm: string): Promise<string> {
  const { db } = link.core
  const record = db.get('VM', vm)
  const sr = suspendSr(link, record, vm)
  const memory = Number(record.memory_static_max)
  const size = Math.floor(memory * 1.2 * 1.05) + 100 * MiB
  const seed = seedOf(`memory of VM ${String(record.uuid)} at ${Date.now()} ${Math.random()}`)
  try {
    return await createVdi(
      link,
      sr,
      {
        name_label: 'Suspend image',
        name_description: 'Suspend image',
        type: 'suspend',
        sharable: false,
        read_only: false,
        other_config: {},
        xenstore_data: {},
        sm_config: { vmhint: String(record.uuid), initial_allocation: String(size) },
        tags: [],
      },
      size,
      { fill: { seed, ranges: [{ start: 0, end: Math.ceil(memory / BLOCK_SIZE) }] } },
    )
  } catch (error) {
    if (error instanceof XapiError && error.code === 'SR_BACKEND_FAILURE_44') {
      throw new XapiError('SR_SUSPEND_SPACE_INSUFFICIENT', [sr])
    }
    throw error
  }
}

/** `Helpers.choose_suspend_sr`: the VM's, the pool's, its host's, else the pool's default SR. */
function suspendSr(link: StorageLink, vm: XapiRecord, ref: string): string {
  const { db } = link.core
  const pool = db.get('pool', link.core.poolRef())
  const host = db.find('host', String(vm.resident_on))
  for (const candidate of [vm.suspend_SR, pool.suspend_image_SR, host?.suspend_image_sr, pool.default_SR]) {
    const sr = String(candidate ?? '')
    if (!isNullRef(sr) && db.exists('SR', sr)) return sr
  }
  throw new XapiError('VM_NO_SUSPEND_SR', [ref])
}
