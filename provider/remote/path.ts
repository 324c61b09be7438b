/**
 * Paths inside a remote: relative to its root, "/"-separated, with no "." or ".." segments, so a
 * path can never leave the remote whatever the backend. "" is the root itself.
 */
export function normalizeRemotePath(path: string): string {
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.')
  for (const segment of segments) {
    if (segment === '..') throw new Error(`remote path "${path}" must not contain "..": paths stay inside the remote`)
    if (segment.includes('\0')) throw new Error(`remote path "${path}" contains a NUL character`)
  }
  return segments.join('/')
}

export function joinRemotePath(...parts: string[]): string {
  return normalizeRemotePath(parts.join('/'))
}

/** The parent directory of a remote path ("" for an entry of the root). */
export function remoteDirname(path: string): string {
  const normalized = normalizeRemotePath(path)
  const slash = normalized.lastIndexOf('/')
  return slash === -1 ? '' : normalized.slice(0, slash)
}

export function remoteBasename(path: string): string {
  const normalized = normalizeRemotePath(path)
  return normalized.slice(normalized.lastIndexOf('/') + 1)
}
