import type { OpenMode, RandomAccessFile } from '../../disk/io'
import type { RemoteBackend } from '../backend'
import { RemoteError } from '../errors'

/**
 * A view of a backend that can only read: restores and listings never change a remote, even by
 * accident (a listing that would regenerate a stale cache leaves it as it is). Writes fail with
 * EROFS naming the operation.
 */
export function readOnlyBackend(backend: RemoteBackend): RemoteBackend {
  const refuse = (operation: string, path: string) =>
    Promise.reject(
      new RemoteError('EROFS', `${operation} "${path}" refused: remote ${backend.name} is open read-only here`, {
        remote: backend.name,
        path,
      }),
    )
  return {
    name: backend.name,
    capabilities: backend.capabilities,
    save: (path) => refuse('save', path),
    open: (path: string, mode: OpenMode): Promise<RandomAccessFile> =>
      mode === 'read' ? backend.open(path, mode) : refuse(`open (${mode})`, path),
    read: (path, range) => backend.read(path, range),
    stat: (path) => backend.stat(path),
    list: (dir) => backend.list(dir),
    remove: (path) => refuse('remove', path),
    removeDirectory: (path) => refuse('remove the directory', path),
    rename: (from) => refuse('rename', from),
    mkdir: (path) => refuse('create the directory', path),
    setModifiedTime: (path) => refuse('set the modification time of', path),
    freeSpace: () => backend.freeSpace(),
    close: () => backend.close(),
  }
}
