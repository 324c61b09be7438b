import { createHash } from 'node:crypto'
import type { DataSource, RemoteBackend, Validator } from '../backend'
import { RemoteError } from '../errors'
import { exists, saveSmallFile } from '../small-files'
import { checksumPath, metadataPath, vhdField, vmBackupDir, xvaField, xvaPath } from './paths'

/**
 * Writing a backup's data files where XO expects them (docs/remote-format.md §2, §4.1). Each is
 * written with the atomic protocol; the metadata that commits the backup comes after
 * (vm-backups.ts `commitVmBackup`).
 */

export interface DataWriteOptions {
  /** XVA or VHD validator, run on the temporary file before it gets its name. */
  validator?: Validator
  /** Enables the free-space check before the transfer. */
  expectedSize?: number
  signal?: AbortSignal
}

/**
 * Writes `<ts>.xva` and then `<ts>.xva.checksum` (`$1$$<md5 hex>`, XO's format, computed while
 * streaming). Returns the metadata's `xva` field and the size written.
 */
export async function saveFullBackupData(
  backend: RemoteBackend,
  vmUuid: string,
  timestamp: number,
  source: DataSource,
  options: DataWriteOptions = {},
): Promise<{ xva: string; size: number }> {
  const path = xvaPath(vmUuid, timestamp)
  await refuseExisting(backend, metadataPath(vmUuid, timestamp))
  await backend.mkdir(vmBackupDir(vmUuid), { recursive: true })
  const md5 = createHash('md5')
  const { size } = await backend.save(path, hashing(source, md5), options)
  await saveSmallFile(backend, checksumPath(path), `$1$$${md5.digest('hex')}`)
  return { xva: xvaField(timestamp), size }
}

/** Writes one disk of a delta backup. Returns the metadata's `vhds` value for it and the size written. */
export async function saveDeltaDisk(
  backend: RemoteBackend,
  target: { vmUuid: string; jobId: string; vdiUuid: string; timestamp: number },
  source: DataSource,
  options: DataWriteOptions = {},
): Promise<{ vhd: string; size: number }> {
  const vhd = vhdField(target.jobId, target.vdiUuid, target.timestamp)
  const path = `${vmBackupDir(target.vmUuid)}/${vhd}`
  await refuseExisting(backend, metadataPath(target.vmUuid, target.timestamp))
  // A VHD of that name may be the parent of later ones: never replace it.
  await refuseExisting(backend, path)
  await backend.mkdir(path.slice(0, path.lastIndexOf('/')), { recursive: true })
  const { size } = await backend.save(path, source, options)
  return { vhd, size }
}

/** Data of a backup that exists must never be replaced (two runs within the same second). */
async function refuseExisting(backend: RemoteBackend, path: string): Promise<void> {
  if (await exists(backend, path)) {
    throw new RemoteError(
      'EEXIST',
      `"${path}" already exists on remote ${backend.name} (already transferred); it was left as it is`,
      {
        remote: backend.name,
        path,
      },
    )
  }
}

async function* hashing(source: DataSource, hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    hash.update(chunk)
    yield chunk
  }
}
