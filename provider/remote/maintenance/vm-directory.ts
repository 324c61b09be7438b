import { isTemporaryName } from '../atomic-save'
import type { RemoteBackend, RemoteEntry } from '../backend'
import { isRemoteError } from '../errors'
import { type BackupMetadata, parseBackupMetadata } from '../layout/metadata'
import { CACHE_FILE, isUuid, resolveInside, vmBackupDir } from '../layout/paths'
import { dataFilesOf } from '../layout/vm-backups'
import { joinRemotePath, remoteDirname } from '../path'
import { readSmallFile } from '../small-files'

/**
 * What a VM's backup directory holds, read the way clean-vm needs it: every metadata file (not the
 * cache, which may be stale), the data files, leftovers, and the VDI directories of delta chains.
 */

export type MetadataRead =
  | { path: string; status: 'ok'; metadata: BackupMetadata; dataFiles: string[]; requiredFiles: string[] }
  /** JSON, but not a backup xcp-backup understands: the data files it seems to name are kept. */
  | { path: string; status: 'invalid'; reason: string; references: string[] }
  /** Not JSON at all (or naming files outside the VM directory): what it references cannot be known. */
  | { path: string; status: 'unreadable'; reason: string }

export interface VmDirectory {
  vmUuid: string
  dir: string
  metadata: MetadataRead[]
  /** `<ts>.xva` files (remote paths). */
  xvas: string[]
  /** `<ts>.xva.checksum` files. */
  checksums: string[]
  /** `.<ms>.<name>`: writes interrupted by a crash (nobody writes while the VM lock is held). */
  temporary: string[]
  /** Files and folders clean-vm does not know; reported, never deleted. */
  unknown: string[]
  hasCache: boolean
  /** `vdis/<jobId>/<vdiUuid>` directories. */
  vdiDirs: string[]
}

export async function readVmDirectory(backend: RemoteBackend, vmUuid: string): Promise<VmDirectory> {
  const dir = vmBackupDir(vmUuid)
  const result: VmDirectory = {
    vmUuid,
    dir,
    metadata: [],
    xvas: [],
    checksums: [],
    temporary: [],
    unknown: [],
    hasCache: false,
    vdiDirs: [],
  }
  for (const entry of await listOrEmpty(backend, dir)) {
    const path = joinRemotePath(dir, entry.name)
    if (entry.kind === 'directory') {
      if (entry.name === 'vdis') result.vdiDirs.push(...(await listVdiDirectories(backend, path, result.unknown)))
      else result.unknown.push(path)
      continue
    }
    if (entry.kind !== 'file') result.unknown.push(path)
    else if (isTemporaryName(entry.name)) result.temporary.push(path)
    else if (entry.name === CACHE_FILE) result.hasCache = true
    else if (entry.name.startsWith('.')) result.unknown.push(path)
    else if (entry.name.endsWith('.json')) result.metadata.push(await readMetadata(backend, dir, path))
    else if (entry.name.endsWith('.xva')) result.xvas.push(path)
    else if (entry.name.endsWith('.xva.checksum')) result.checksums.push(path)
    else result.unknown.push(path)
  }
  result.metadata.sort((a, b) => a.path.localeCompare(b.path))
  return result
}

/** Reads one metadata file; never throws for its content, only for the remote failing. */
export async function readMetadata(backend: RemoteBackend, vmDir: string, path: string): Promise<MetadataRead> {
  const text = (await readSmallFile(backend, path)).toString('utf8')
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    return { path, status: 'unreadable', reason: `not JSON (${(error as Error).message})` }
  }
  let metadata: BackupMetadata
  try {
    metadata = parseBackupMetadata(path, text)
  } catch (error) {
    const references = referencesOf(vmDir, path, raw)
    return references === undefined
      ? { path, status: 'unreadable', reason: (error as Error).message }
      : { path, status: 'invalid', reason: (error as Error).message, references }
  }
  try {
    const { required, all } = dataFilesOf(vmDir, path, metadata)
    return { path, status: 'ok', metadata, dataFiles: all, requiredFiles: required }
  } catch (error) {
    return {
      path,
      status: 'unreadable',
      reason: `it names a data file outside the VM directory: ${(error as Error).message}`,
    }
  }
}

/**
 * The data files a metadata file that fails the schema still seems to name (its `xva` and `vhds`
 * strings), so that they are not deleted as orphans. Undefined when it names nothing recognisable
 * or names files outside the VM directory: then nothing of the VM may be deleted.
 */
function referencesOf(vmDir: string, path: string, raw: unknown): string[] | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined
  const record = raw as Record<string, unknown>
  const references: string[] = []
  try {
    if (typeof record.xva === 'string') {
      const xva = resolveInside(vmDir, remoteDirname(path), record.xva)
      references.push(xva, `${xva}.checksum`)
    }
    if (typeof record.vhds === 'object' && record.vhds !== null) {
      for (const value of Object.values(record.vhds)) {
        if (typeof value !== 'string') return undefined
        references.push(resolveInside(vmDir, vmDir, value))
      }
    }
  } catch {
    return undefined
  }
  return references.length === 0 ? undefined : references
}

async function listVdiDirectories(backend: RemoteBackend, vdisDir: string, unknown: string[]): Promise<string[]> {
  const dirs: string[] = []
  for (const job of await listOrEmpty(backend, vdisDir)) {
    const jobDir = joinRemotePath(vdisDir, job.name)
    if (job.kind !== 'directory' || job.name.startsWith('.')) {
      unknown.push(jobDir)
      continue
    }
    for (const vdi of await listOrEmpty(backend, jobDir)) {
      const vdiDir = joinRemotePath(jobDir, vdi.name)
      if (vdi.kind === 'directory' && isUuid(vdi.name)) dirs.push(vdiDir)
      else unknown.push(vdiDir)
    }
  }
  return dirs.sort()
}

export async function listOrEmpty(backend: RemoteBackend, dir: string): Promise<RemoteEntry[]> {
  try {
    return await backend.list(dir)
  } catch (error) {
    if (isRemoteError(error, 'ENOENT')) return []
    throw error
  }
}
