import type { Xapi } from 'xen-api'

export interface DestroyedSnapshot {
  /** Disks of the snapshot that could not be destroyed, with why (they are left as orphan VDIs). */
  leftDisks: { uuid: string; reason: string }[]
}

export class NotASnapshotError extends Error {
  readonly code = 'NOT_A_SNAPSHOT'
}

/**
 * Destroys a VM snapshot and the snapshot disks only it uses, as deleting a snapshot in XO does. Refuses
 * anything that is not a snapshot, so a real VM can never be destroyed through here. The record goes
 * first: once it is gone nothing refers to the disks, and a disk that cannot be destroyed is reported,
 * not hidden.
 */
export async function destroySnapshot(xapi: Xapi, uuid: string): Promise<DestroyedSnapshot> {
  const ref = await xapi.call<string>('VM.get_by_uuid', uuid)
  const record = await xapi.call<{ is_a_snapshot: boolean; VBDs: string[] }>('VM.get_record', ref)
  if (record.is_a_snapshot !== true) {
    throw new NotASnapshotError(`VM ${uuid} is not a snapshot: refusing to destroy it`)
  }
  const disks: { ref: string; uuid: string }[] = []
  for (const vbdRef of record.VBDs) {
    const vbd = await xapi.call<{ VDI: string; type: string; empty: boolean }>('VBD.get_record', vbdRef)
    if (vbd.empty || vbd.type !== 'Disk' || vbd.VDI === 'OpaqueRef:NULL') continue
    const vdi = await xapi.call<{ uuid: string; is_a_snapshot: boolean; VBDs: string[] }>('VDI.get_record', vbd.VDI)
    // A disk another VM also uses, or that is not a snapshot disk, is not the snapshot's to destroy.
    if (vdi.is_a_snapshot && vdi.VBDs.length === 1) disks.push({ ref: vbd.VDI, uuid: vdi.uuid })
  }
  await xapi.call('VM.destroy', ref)
  const leftDisks: DestroyedSnapshot['leftDisks'] = []
  for (const disk of disks) {
    try {
      await xapi.call('VDI.destroy', disk.ref)
    } catch (error) {
      leftDisks.push({ uuid: disk.uuid, reason: xapiErrorText(error) })
    }
  }
  return { leftDisks }
}

function xapiErrorText(error: unknown): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error)
}
