import type { SimulatorCore } from '../core'
import { isNullRef, NULL_REF } from '../model/values'
import type { DeviceHooks } from './device-hooks'
import type { StorageLink } from './storage-link'

/**
 * VBDs attaching and detaching their VDIs in the storage manager, so what SM does at attach time
 * happens in the simulator too: LVHD inflates a read-write leaf (failing with 180 when the VG cannot
 * hold it), CBT logs are marked open, and an attached disk cannot be destroyed (`VDI_IN_USE`).
 * The holder of an attachment is the VBD ref.
 */
export function storageDeviceHooks(link: StorageLink): DeviceHooks {
  const diskOf = (core: SimulatorCore, vbd: string) => {
    const record = core.db.find('VBD', vbd)
    if (record === undefined || record.empty === true) return undefined
    const vdi = String(record.VDI)
    const vdiRecord = isNullRef(vdi) ? undefined : core.db.find('VDI', vdi)
    if (vdiRecord === undefined) return undefined
    return { record, vdi, vdiRecord }
  }
  return {
    async attachVbd(core, vbd) {
      const disk = diskOf(core, vbd)
      if (disk === undefined) return
      const readOnly = disk.record.mode === 'RO' || disk.vdiRecord.read_only === true
      const snapshotVm = core.db.find('VM', String(disk.record.VM))?.is_a_snapshot === true
      await link.call(() =>
        link.engineOfVdi(disk.vdi).attach(String(disk.vdiRecord.uuid), { holder: vbd, readOnly, snapshotVm }),
      )
    },
    async detachVbd(core, vbd) {
      const disk = diskOf(core, vbd)
      if (disk === undefined) return
      await link.call(() => link.engineOfVdi(disk.vdi).detach(String(disk.vdiRecord.uuid), vbd))
    },
    async discardSuspendImage(core, vm) {
      const vdi = String(core.db.get('VM', vm).suspend_VDI)
      if (isNullRef(vdi) || !core.db.exists('VDI', vdi)) return
      core.db.update('VM', vm, { suspend_VDI: NULL_REF })
      await link.call(() => link.engineOfVdi(vdi).destroyVdi(link.vdiUuid(vdi)))
    },
  }
}
