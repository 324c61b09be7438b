import { joinRemotePath, remoteBasename, remoteDirname } from '../path'
import { formatFilenameDate } from './timestamps'

/** Where things live in an XO repository (docs/remote-format.md §2). All paths are remote paths. */

export const VM_BACKUPS_DIR = 'xo-vm-backups'
export const CLEAN_VM_QUEUE_DIR = `${VM_BACKUPS_DIR}/.queue/clean-vm`
export const CACHE_FILE = 'cache.json.gz'
/** Root files of XO remotes xcp-backup must not write to (§2). */
export const ENCRYPTION_FILE = 'encryption.json'
export const IMMUTABILITY_FILE = 'immutability.json'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isUuid(value: string): boolean {
  return UUID.test(value)
}

/** Ids become path segments: refuse anything that could escape or split one. */
export function assertUuid(value: string, what: string): void {
  if (!isUuid(value)) throw new Error(`invalid ${what} "${value}": expected a uuid (8-4-4-4-12 hexadecimal digits)`)
}

export function assertPathSegment(value: string, what: string): void {
  if (value === '' || value === '.' || value === '..' || /[/\\\0]/.test(value)) {
    throw new Error(
      `invalid ${what} "${value}": it names a folder on the remote, so it cannot be empty or contain / \\ or NUL`,
    )
  }
}

export function vmBackupDir(vmUuid: string): string {
  assertUuid(vmUuid, 'VM uuid')
  return `${VM_BACKUPS_DIR}/${vmUuid}`
}

export function metadataPath(vmUuid: string, timestamp: number): string {
  return `${vmBackupDir(vmUuid)}/${formatFilenameDate(timestamp)}.json`
}

/** The `xva` field of a full backup's metadata: relative to the metadata file. */
export function xvaField(timestamp: number): string {
  return `./${formatFilenameDate(timestamp)}.xva`
}

export function xvaPath(vmUuid: string, timestamp: number): string {
  return `${vmBackupDir(vmUuid)}/${formatFilenameDate(timestamp)}.xva`
}

export function checksumPath(dataPath: string): string {
  return `${dataPath}.checksum`
}

/** A delta disk's path as the metadata's `vhds` holds it: relative to the VM directory. */
export function vhdField(jobId: string, vdiUuid: string, timestamp: number): string {
  assertPathSegment(jobId, 'job id')
  assertUuid(vdiUuid, 'VDI uuid')
  return `vdis/${jobId}/${vdiUuid}/${formatFilenameDate(timestamp)}.vhd`
}

export function cachePath(vmUuid: string): string {
  return `${vmBackupDir(vmUuid)}/${CACHE_FILE}`
}

/** The key and `_filename` XO uses for a metadata file: its path with a leading "/". */
export function xoFilename(metadataFile: string): string {
  return `/${joinRemotePath(metadataFile)}`
}

/** `.<parent basename>.merge.json` next to the parent VHD of a merge (§7). */
export function mergeStatePath(parentVhdPath: string): string {
  return joinRemotePath(remoteDirname(parentVhdPath), `.${remoteBasename(parentVhdPath)}.merge.json`)
}

/**
 * Resolves a path written in metadata (relative to `baseDir`) to a remote path, refusing any that
 * leaves the VM directory: metadata may come from anywhere, it must not send a delete elsewhere.
 */
export function resolveInside(vmDir: string, baseDir: string, relative: string): string {
  const segments = [...baseDir.split('/'), ...relative.split('/')].filter((s) => s !== '' && s !== '.')
  const resolved: string[] = []
  for (const segment of segments) {
    if (segment === '..') {
      if (resolved.length === 0) throw new Error(`path "${relative}" leaves the remote`)
      resolved.pop()
    } else resolved.push(segment)
  }
  const path = resolved.join('/')
  if (!path.startsWith(`${vmDir}/`))
    throw new Error(`path "${relative}" points outside the VM's backup directory ${vmDir}`)
  return path
}
