import type { RemoteBackend, RemoteEntry } from '../backend'
import { isRemoteError, RemoteError } from '../errors'
import type { Lock } from '../lock'
import { joinRemotePath, remoteDirname } from '../path'
import { exists, readSmallFile, saveSmallFile } from '../small-files'
import { cacheEntry, readVmBackupCache, updateVmBackupCache, type VmBackupCache, writeVmBackupCache } from './cache'
import {
  type BackupMetadata,
  backupMetadataSchema,
  checkNewBackupMetadata,
  type NewBackupMetadata,
  parseBackupMetadata,
  READ_ONLY_FIELDS,
} from './metadata'
import { checksumPath, metadataPath, resolveInside, VM_BACKUPS_DIR, vmBackupDir, xoFilename } from './paths'

/**
 * The backups of one VM on a remote, as docs/remote-format.md §3, §5, §9 and §10 describe them:
 * listing (complete or incomplete), committing a backup's metadata, deleting backups. Callers that
 * change a VM's directory hold its lock (lock.ts); listing needs none.
 */

export interface VmBackup {
  /** The metadata file (remote path). */
  path: string
  metadata: BackupMetadata
  /** complete: every data file it names exists; incomplete: some are missing (see `missing`). */
  status: 'complete' | 'incomplete'
  missing: string[]
  /** Data files it names (XVA, or one VHD per disk), as remote paths. */
  dataFiles: string[]
}

export interface UnreadableMetadata {
  path: string
  reason: string
}

export interface VmBackupListing {
  /** Sorted by timestamp, oldest first. */
  backups: VmBackup[]
  /** Metadata files that could not be read or are not valid; left in place. */
  unreadable: UnreadableMetadata[]
  /** Whether the cache answered, or was (re)built from the metadata files. */
  cache: 'used' | 'regenerated'
}

export interface ListOptions {
  /** Check that data files exist (default true); false trusts the metadata. */
  checkData?: boolean
  /** Told when the regenerated cache could not be written (the listing itself still succeeds). */
  onCacheWriteError?: (error: unknown) => void
}

export async function listVmBackups(
  backend: RemoteBackend,
  vmUuid: string,
  options: ListOptions = {},
): Promise<VmBackupListing> {
  const dir = vmBackupDir(vmUuid)
  const metadataFiles = (await listOrEmpty(backend, dir))
    .filter((entry) => entry.kind === 'file' && isMetadataName(entry.name))
    .map((entry) => joinRemotePath(dir, entry.name))
    .sort()

  let entries = await fromCache(backend, vmUuid, metadataFiles)
  let cache: VmBackupListing['cache'] = 'used'
  const unreadable: UnreadableMetadata[] = []
  if (entries === undefined) {
    cache = 'regenerated'
    entries = []
    const regenerated: VmBackupCache = {}
    for (const path of metadataFiles) {
      try {
        const metadata = parseBackupMetadata(path, (await readSmallFile(backend, path)).toString('utf8'))
        entries.push({ path, metadata })
        regenerated[xoFilename(path)] = cacheEntry(xoFilename(path), metadata)
      } catch (error) {
        unreadable.push({ path, reason: (error as Error).message })
      }
    }
    await writeVmBackupCache(backend, vmUuid, regenerated).catch((error: unknown) => options.onCacheWriteError?.(error))
  }

  const backups: VmBackup[] = []
  for (const { path, metadata } of entries) {
    let required: string[]
    let dataFiles: string[]
    try {
      ;({ required, all: dataFiles } = dataFilesOf(dir, path, metadata))
    } catch (error) {
      unreadable.push({ path, reason: `backup metadata "${path}" is not valid: ${(error as Error).message}` })
      continue
    }
    const missing = options.checkData === false ? [] : await missingFiles(backend, required)
    backups.push({ path, metadata, status: missing.length === 0 ? 'complete' : 'incomplete', missing, dataFiles })
  }
  backups.sort((a, b) => a.metadata.timestamp - b.metadata.timestamp || a.path.localeCompare(b.path))
  return { backups, unreadable, cache }
}

/** VM uuids with a backup directory: hidden entries and lock directories skipped, as XO does. */
export async function listAllVms(backend: RemoteBackend): Promise<string[]> {
  return (await listOrEmpty(backend, VM_BACKUPS_DIR))
    .filter((entry) => entry.kind === 'directory' && !entry.name.startsWith('.') && !entry.name.endsWith('.lock'))
    .map((entry) => entry.name)
    .sort()
}

export interface CommitOptions {
  /** The VM's lock: checked right before the commit point, so a lost lock never commits. */
  lock?: Lock
}

/**
 * Commits a backup: writes its metadata file, after checking the metadata (strict schema) and that
 * every data file it names is on the remote. Never overwrites: a backup of the same VM and second
 * already exists → EEXIST (XO logs "already transferred"). Returns the metadata file's path.
 */
export async function commitVmBackup(
  backend: RemoteBackend,
  metadata: NewBackupMetadata,
  options: CommitOptions = {},
): Promise<string> {
  const vmUuid = metadata.vm.uuid
  const path = metadataPath(vmUuid, metadata.timestamp)
  const checked = checkNewBackupMetadata(path, metadata)
  const { required } = dataFilesOf(vmBackupDir(vmUuid), path, checked as BackupMetadata)
  const missing = await missingFiles(backend, required)
  if (missing.length > 0) {
    throw new RemoteError(
      'EINVALID',
      `cannot commit backup "${path}" on remote ${backend.name}: its data files are missing (${missing.join(', ')}); write them first`,
      { remote: backend.name, path },
    )
  }
  if (await exists(backend, path)) {
    throw new RemoteError(
      'EEXIST',
      `backup "${path}" already exists on remote ${backend.name} (already transferred); it was left as it is`,
      {
        remote: backend.name,
        path,
      },
    )
  }
  options.lock?.assertHeld()
  // The caller's object, in the caller's key order: the schema has checked it has nothing more.
  await saveSmallFile(backend, path, JSON.stringify(metadata))
  await updateVmBackupCache(backend, vmUuid, (cache) => {
    cache[xoFilename(path)] = cacheEntry(xoFilename(path), metadata)
  })
  return path
}

/**
 * Replaces the metadata of an existing backup (after a merge: new `size`, every `isVhdDifferencing`
 * false). Fields XO added that xcp-backup does not know are kept.
 */
export async function replaceVmBackupMetadata(
  backend: RemoteBackend,
  backup: VmBackup,
  metadata: BackupMetadata,
): Promise<void> {
  const parsed = backupMetadataSchema.parse(metadata)
  const clean: Record<string, unknown> = { ...parsed }
  for (const field of READ_ONLY_FIELDS) delete clean[field]
  await saveSmallFile(backend, backup.path, JSON.stringify(clean))
  await updateVmBackupCache(backend, parsed.vm.uuid, (cache) => {
    cache[xoFilename(backup.path)] = cacheEntry(xoFilename(backup.path), clean)
  })
}

/**
 * Deletes backups (§9). The metadata file goes first, so a backup stops existing at once; a full
 * backup's XVA and checksum follow; a delta backup's VHDs are left for the merge step. Deltas are
 * deleted newest to oldest, as XO does, to avoid needless merges.
 */
export async function deleteVmBackups(backend: RemoteBackend, backups: VmBackup[]): Promise<void> {
  const ordered = [...backups].sort((a, b) => b.metadata.timestamp - a.metadata.timestamp)
  for (const backup of ordered) {
    await removeIfPresent(backend, backup.path)
    await updateVmBackupCache(backend, backup.metadata.vm.uuid, (cache) => {
      delete cache[xoFilename(backup.path)]
    })
    if (backup.metadata.mode === 'full') {
      for (const file of backup.dataFiles) await removeIfPresent(backend, file)
    }
  }
}

/** A metadata file's data files: `required` make the backup complete, `all` are deleted with it. */
export function dataFilesOf(
  vmDir: string,
  path: string,
  metadata: BackupMetadata,
): { required: string[]; all: string[] } {
  if (metadata.mode === 'full') {
    const xva = resolveInside(vmDir, remoteDirname(path), metadata.xva)
    return { required: [xva], all: [xva, checksumPath(xva)] }
  }
  const vhds = Object.values(metadata.vhds).map((vhd) => resolveInside(vmDir, vmDir, vhd))
  return { required: vhds, all: vhds }
}

function isMetadataName(name: string): boolean {
  // XO treats every *.json of the VM directory as a metadata file; dot files are ours in progress.
  return name.endsWith('.json') && !name.startsWith('.')
}

async function fromCache(
  backend: RemoteBackend,
  vmUuid: string,
  metadataFiles: string[],
): Promise<{ path: string; metadata: BackupMetadata }[] | undefined> {
  const read = await readVmBackupCache(backend, vmUuid)
  if (read.status !== 'ok') return undefined
  const keys = Object.keys(read.cache)
  const expected = new Set(metadataFiles.map(xoFilename))
  // A stale cache (an entry count or a name that differs from the files) is rebuilt.
  if (keys.length !== expected.size || keys.some((key) => !expected.has(key))) return undefined
  const entries: { path: string; metadata: BackupMetadata }[] = []
  for (const [key, value] of Object.entries(read.cache)) {
    const result = backupMetadataSchema.safeParse(value)
    if (!result.success) return undefined
    const metadata: Record<string, unknown> = { ...result.data }
    for (const field of READ_ONLY_FIELDS) delete metadata[field]
    entries.push({ path: key.slice(1), metadata: metadata as BackupMetadata })
  }
  return entries
}

async function listOrEmpty(backend: RemoteBackend, dir: string): Promise<RemoteEntry[]> {
  try {
    return await backend.list(dir)
  } catch (error) {
    if (isRemoteError(error, 'ENOENT')) return []
    throw error
  }
}

async function missingFiles(backend: RemoteBackend, paths: string[]): Promise<string[]> {
  const missing: string[] = []
  for (const path of paths) if (!(await exists(backend, path))) missing.push(path)
  return missing
}

async function removeIfPresent(backend: RemoteBackend, path: string): Promise<void> {
  try {
    await backend.remove(path)
  } catch (error) {
    if (!isRemoteError(error, 'ENOENT')) throw error
  }
}
