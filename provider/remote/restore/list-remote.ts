import type { RemoteBackend } from '../backend'
import { listAllVms, listVmBackups } from '../layout/vm-backups'
import { readOnlyBackend } from './read-only'

/**
 * What a remote holds, VM by VM, read without changing anything (a stale cache is used as found,
 * not rewritten): the model behind `xcp-backup ls`. Works on what XO wrote as well as on ours.
 */

export interface RemoteListing {
  remote: string
  vms: VmListing[]
}

export interface VmListing {
  uuid: string
  /** The VM's name in its newest backup. */
  name: string | undefined
  /** Oldest first. */
  backups: BackupListing[]
  /** Metadata files that could not be read, left as they are. */
  unreadable: { path: string; reason: string }[]
}

export interface BackupListing {
  /** The metadata file: what `restore` takes. */
  path: string
  /** Transfer start, ISO 8601 UTC. */
  time: string
  timestamp: number
  mode: 'full' | 'delta'
  jobId: string
  scheduleId: string
  /** Bytes, as the metadata says (written, or the merged disks' size after merges). */
  size: number
  /** complete: every data file it names is on the remote (they are not read here). */
  status: 'complete' | 'incomplete'
  missing: string[]
  /** Long-term retention periods it represents ("daily=2026-08-21"). */
  tags: string[]
  /** Full backups: the XVA. */
  xva?: string
  /** Delta backups: one entry per disk. */
  disks?: DiskListing[]
}

export interface DiskListing {
  ref: string
  /** The snapshot VDI's uuid (the VHD's uuid). */
  uuid: string | undefined
  name: string | undefined
  virtualSize: number | undefined
  /** The backup's own VHD. */
  vhd: string
  /** A delta on top of an older backup's VHD, or a full disk. */
  differencing: boolean
}

export async function listRemote(remote: RemoteBackend): Promise<RemoteListing> {
  const backend = readOnlyBackend(remote)
  const vms: VmListing[] = []
  for (const uuid of await listAllVms(backend)) {
    const listing = await listVmBackups(backend, uuid, { onCacheWriteError: () => {} })
    const backups = listing.backups.map((backup): BackupListing => {
      const { metadata } = backup
      const common = {
        path: backup.path,
        time: new Date(metadata.timestamp).toISOString(),
        timestamp: metadata.timestamp,
        mode: metadata.mode,
        jobId: metadata.jobId,
        scheduleId: metadata.scheduleId,
        size: metadata.size,
        status: backup.status,
        missing: backup.missing,
        tags: metadata.tags ?? [],
      }
      if (metadata.mode === 'full') return { ...common, xva: backup.dataFiles[0] }
      const disks = Object.keys(metadata.vhds).map((ref, index): DiskListing => {
        const vdi = metadata.vdis[ref] as Record<string, unknown> | undefined
        return {
          ref,
          uuid: typeof vdi?.uuid === 'string' ? vdi.uuid : undefined,
          name: typeof vdi?.name_label === 'string' ? vdi.name_label : undefined,
          virtualSize: typeof vdi?.virtual_size === 'number' ? vdi.virtual_size : undefined,
          vhd: backup.dataFiles[index]!,
          differencing: metadata.isVhdDifferencing[ref] ?? metadata.isVhdDifferencing[`${ref}.vhd`] ?? false,
        }
      })
      return { ...common, disks }
    })
    vms.push({ uuid, name: listing.backups.at(-1)?.metadata.vm.name_label, backups, unreadable: listing.unreadable })
  }
  return { remote: remote.name, vms }
}
