import { isTemporaryName } from '../atomic-save'
import type { RemoteBackend } from '../backend'
import { RemoteError } from '../errors'
import { joinRemotePath } from '../path'
import { exists } from '../small-files'
import { ENCRYPTION_FILE, IMMUTABILITY_FILE } from './paths'

/**
 * Refuses XO remotes that xcp-backup cannot write without damaging them (docs/remote-format.md §2):
 * encrypted remotes (their files are ciphertext) and immutable ones (no temporary-file renames).
 */
export async function assertWritableRepository(backend: RemoteBackend): Promise<void> {
  if (await exists(backend, ENCRYPTION_FILE)) {
    throw new RemoteError(
      'EUNSUPPORTED',
      `remote ${backend.name} is an encrypted Xen Orchestra remote (${ENCRYPTION_FILE}): xcp-backup cannot write to it yet. Use another remote or directory.`,
      { remote: backend.name },
    )
  }
  if (await exists(backend, IMMUTABILITY_FILE)) {
    throw new RemoteError(
      'EUNSUPPORTED',
      `remote ${backend.name} is an immutable Xen Orchestra remote (${IMMUTABILITY_FILE}): xcp-backup cannot write to it. Use another remote or directory.`,
      { remote: backend.name },
    )
  }
}

/**
 * Removes temporary files (`.<ms>.<name>`, docs/remote-format.md §4) older than `olderThanMs` from a
 * directory: leftovers of writes interrupted by a crash. Their age comes from the name (the time
 * the write started). Run under the VM's lock, so no write of this VM is under way. Returns the
 * paths removed.
 */
export async function removeStaleTemporaryFiles(
  backend: RemoteBackend,
  dir: string,
  olderThanMs: number,
): Promise<string[]> {
  const removed: string[] = []
  const now = Date.now()
  for (const entry of await backend.list(dir)) {
    if (entry.kind !== 'file' || !isTemporaryName(entry.name)) continue
    const started = Number(entry.name.slice(1, entry.name.indexOf('.', 1)))
    if (now - started < olderThanMs) continue
    const path = joinRemotePath(dir, entry.name)
    await backend.remove(path)
    removed.push(path)
  }
  return removed
}
