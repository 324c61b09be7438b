import type { RemoteBackend } from '../backend'
import { cacheEntry, type VmBackupCache, writeVmBackupCache } from '../layout/cache'
import type { DeltaBackupMetadata } from '../layout/metadata'
import { resolveInside, vmBackupDir, xoFilename } from '../layout/paths'
import { replaceVmBackupMetadata, type VmBackup } from '../layout/vm-backups'
import { joinRemotePath, remoteDirname } from '../path'
import { readVhdNode } from './vdi-directory'
import { listOrEmpty, type MetadataRead, readMetadata } from './vm-directory'

/**
 * Keeps a delta backup's metadata true to its disks after a merge changed them: `size` becomes the
 * sum of its VHD files and each `isVhdDifferencing` says what the file now is (false once the chain
 * was merged into the full). XO rewrites the same two fields after its merges.
 */
export async function refreshDeltaMetadata(
  backend: RemoteBackend,
  vmDir: string,
  read: Extract<MetadataRead, { status: 'ok' }>,
  options: { updateSize: boolean },
): Promise<boolean> {
  const metadata = read.metadata
  if (metadata.mode !== 'delta') return false
  const flags: Record<string, boolean> = { ...metadata.isVhdDifferencing }
  let size = 0
  let flagsChanged = false
  for (const [ref, relative] of Object.entries(metadata.vhds)) {
    const path = resolveInside(vmDir, vmDir, relative)
    const node = await readVhdNode(backend, remoteDirname(path), path)
    if (node === undefined || 'reason' in node) return false
    size += node.fileSize
    // Older XO keyed the flag "<ref>.vhd": keep the key the file uses.
    const key = !(ref in flags) && `${ref}.vhd` in flags ? `${ref}.vhd` : ref
    if (flags[key] !== node.differencing) {
      flags[key] = node.differencing
      flagsChanged = true
    }
  }
  const sizeChanged = options.updateSize && size !== metadata.size
  if (!flagsChanged && !sizeChanged) return false
  const updated: DeltaBackupMetadata = {
    ...metadata,
    isVhdDifferencing: flags,
    size: flagsChanged || options.updateSize ? size : metadata.size,
  }
  await replaceVmBackupMetadata(backend, asVmBackup(read), updated)
  read.metadata = updated
  return true
}

/** Rewrites cache.json.gz from the metadata files themselves (docs/remote-format.md §5). */
export async function regenerateCache(backend: RemoteBackend, vmUuid: string): Promise<void> {
  const dir = vmBackupDir(vmUuid)
  const cache: VmBackupCache = {}
  for (const entry of await listOrEmpty(backend, dir)) {
    if (entry.kind !== 'file' || entry.name.startsWith('.') || !entry.name.endsWith('.json')) continue
    const read = await readMetadata(backend, dir, joinRemotePath(dir, entry.name))
    if (read.status !== 'ok') continue
    cache[xoFilename(read.path)] = cacheEntry(xoFilename(read.path), read.metadata)
  }
  await writeVmBackupCache(backend, vmUuid, cache)
}

export function asVmBackup(read: Extract<MetadataRead, { status: 'ok' }>): VmBackup {
  return { path: read.path, metadata: read.metadata, status: 'complete', missing: [], dataFiles: read.dataFiles }
}
