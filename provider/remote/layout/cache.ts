import { promisify } from 'node:util'
import { gunzip, gzip } from 'node:zlib'
import type { RemoteBackend } from '../backend'
import { isRemoteError } from '../errors'
import { readSmallFile, saveSmallFile } from '../small-files'
import { cachePath } from './paths'

const gzipAsync = promisify(gzip)
const gunzipAsync = promisify(gunzip)

/**
 * `cache.json.gz` (docs/remote-format.md §5): gzipped JSON, one entry per metadata file, keyed by
 * its path with a leading "/", each entry the metadata plus `_filename` and `id` (that same key).
 * Only an index: regenerated from the metadata files whenever it is missing, unreadable or stale.
 */
export type VmBackupCache = Record<string, Record<string, unknown>>

export type CacheRead =
  | { status: 'ok'; cache: VmBackupCache }
  | { status: 'missing' }
  | { status: 'unreadable'; reason: string }

export async function readVmBackupCache(backend: RemoteBackend, vmUuid: string): Promise<CacheRead> {
  let compressed: Buffer
  try {
    compressed = await readSmallFile(backend, cachePath(vmUuid))
  } catch (error) {
    if (isRemoteError(error, 'ENOENT')) return { status: 'missing' }
    return { status: 'unreadable', reason: (error as Error).message }
  }
  try {
    const parsed: unknown = JSON.parse((await gunzipAsync(compressed)).toString('utf8'))
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { status: 'unreadable', reason: 'not a JSON object' }
    }
    for (const [key, entry] of Object.entries(parsed)) {
      if (typeof entry !== 'object' || entry === null)
        return { status: 'unreadable', reason: `entry ${key} is not an object` }
    }
    return { status: 'ok', cache: parsed as VmBackupCache }
  } catch (error) {
    return { status: 'unreadable', reason: (error as Error).message }
  }
}

export async function writeVmBackupCache(backend: RemoteBackend, vmUuid: string, cache: VmBackupCache): Promise<void> {
  await saveSmallFile(backend, cachePath(vmUuid), await gzipAsync(JSON.stringify(cache)))
}

/** The cache entry of one metadata file, as XO writes it. */
export function cacheEntry(filename: string, metadata: object): Record<string, unknown> {
  return { ...metadata, _filename: filename, id: filename }
}

const updates = new Map<string, Promise<unknown>>()

/**
 * Applies `change` to the cache if it exists (XO does the same: a missing cache stays missing
 * until a listing regenerates it). Updates of one VM's cache are serialised within this process;
 * across processes the VM lock serialises them.
 */
export function updateVmBackupCache(
  backend: RemoteBackend,
  vmUuid: string,
  change: (cache: VmBackupCache) => void,
): Promise<boolean> {
  const key = `${backend.name}\0${vmUuid}`
  const run = async () => {
    const read = await readVmBackupCache(backend, vmUuid)
    if (read.status !== 'ok') return false
    change(read.cache)
    await writeVmBackupCache(backend, vmUuid, read.cache)
    return true
  }
  const previous = updates.get(key) ?? Promise.resolve()
  const next = previous.then(run, run)
  const tail = next.catch(() => {})
  updates.set(key, tail)
  void tail.then(() => {
    if (updates.get(key) === tail) updates.delete(key)
  })
  return next
}
