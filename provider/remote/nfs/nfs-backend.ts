import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { access, constants, type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { RemoteLocation } from '../../policy/remote-url'
import { formatRemoteUrl } from '../../policy/remote-url'
import type { RemoteBackend } from '../backend'
import { RemoteError } from '../errors'
import { FileBackend } from '../file/file-backend'

const run = promisify(execFile)

export type NfsLocation = Extract<RemoteLocation, { type: 'nfs' }>

export interface NfsMountOptions {
  /** Where mount points are created, one per remote (XO: /run/xo-server/mounts). */
  mountsDir: string
  /** Names the mount point (XO uses the remote's id). */
  remoteId: string
  /** Extra `mount -o` options, e.g. ["vers=4.1"]. */
  options?: string[]
  /** How messages name the remote; defaults to its nfs:// URL. */
  name?: string
}

/** `mount` arguments for an NFS export, as XO builds them: `-t nfs host:/export dir -o port=…,…`. */
export function nfsMountArguments(location: NfsLocation, mountPoint: string, options: string[] = []): string[] {
  const all = [...(location.port === undefined ? [] : [`port=${location.port}`]), ...options]
  return [
    '-t',
    'nfs',
    `${location.host}:${location.exportPath}`,
    mountPoint,
    ...(all.length === 0 ? [] : ['-o', all.join(',')]),
  ]
}

/**
 * An NFS remote: the export is mounted under `mountsDir/<remoteId>` (XO's way), kept mounted while
 * the backend is open (an open `.keeper_*` file keeps it busy, as XO does), then used as a local
 * directory. Where mounting is impossible the error says why and how to mount it yourself and use
 * a file:// remote instead.
 */
export async function openNfsBackend(location: NfsLocation, options: NfsMountOptions): Promise<RemoteBackend> {
  const name = options.name ?? formatRemoteUrl(location)
  const mountPoint = join(options.mountsDir, options.remoteId)
  await mkdir(mountPoint, { recursive: true })
  const alreadyMounted = await isMountPoint(mountPoint)
  if (!alreadyMounted) {
    const args = nfsMountArguments(location, mountPoint, options.options)
    try {
      await run('mount', args, { timeout: 120_000 })
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? (error as Error).message).trim()
      throw new RemoteError('EMOUNT', await mountFailureMessage(name, location, mountPoint, stderr), {
        remote: name,
        cause: error,
      })
    }
  }
  const files = await FileBackend.open(mountPoint, { name })
  const keeperPath = join(mountPoint, `.keeper_${randomBytes(8).toString('hex')}`)
  const keeper = await open(keeperPath, 'w')
  return mountedBackend(files, { handle: keeper, path: keeperPath }, mountPoint, !alreadyMounted)
}

function mountedBackend(
  files: FileBackend,
  keeper: { handle: FileHandle; path: string },
  mountPoint: string,
  unmount: boolean,
): RemoteBackend {
  return {
    name: files.name,
    capabilities: files.capabilities,
    save: (path, source, options) => files.save(path, source, options),
    open: (path, mode) => files.open(path, mode),
    read: (path, range) => files.read(path, range),
    stat: (path) => files.stat(path),
    list: (dir) => files.list(dir),
    remove: (path) => files.remove(path),
    removeDirectory: (path) => files.removeDirectory(path),
    rename: (from, to) => files.rename(from, to),
    mkdir: (path, options) => files.mkdir(path, options),
    setModifiedTime: (path, mtime) => files.setModifiedTime(path, mtime),
    freeSpace: () => files.freeSpace(),
    close: async () => {
      await keeper.handle.close()
      await rm(keeper.path, { force: true }).catch(() => {})
      if (unmount) await run('umount', [mountPoint])
    },
  }
}

async function isMountPoint(path: string): Promise<boolean> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  return mountinfo.split('\n').some((line) => line.split(' ')[4] === path)
}

/** Why the mount failed, as far as this host can tell, and what to do instead. */
export async function mountFailureMessage(
  name: string,
  location: NfsLocation,
  mountPoint: string,
  mountError: string,
): Promise<string> {
  const reasons: string[] = []
  if (process.getuid?.() !== 0) reasons.push('mounting needs root and this process is not root')
  const helper = await firstExisting(['/sbin/mount.nfs', '/usr/sbin/mount.nfs'])
  if (helper === undefined)
    reasons.push('the NFS client is not installed (mount.nfs; Debian/Ubuntu: apt-get install nfs-common)')
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => undefined)
  if (filesystems !== undefined && !/\bnfs\b/.test(filesystems) && !(await kernelModuleAvailable('nfs'))) {
    reasons.push('the kernel has no NFS client (no nfs file system, no loadable nfs module)')
  }
  const why = reasons.length === 0 ? "see mount's message above" : reasons.join('; ')
  return (
    `cannot mount NFS export ${location.host}:${location.exportPath} for remote ${name} on ${mountPoint}: ` +
    `mount said "${mountError}". This host cannot mount NFS here: ${why}. ` +
    `Mount the export yourself (for example in /etc/fstab: "${location.host}:${location.exportPath} /mnt/backups nfs defaults 0 0") ` +
    'and use the remote URL file:///mnt/backups instead.'
  )
}

async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    try {
      await access(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

async function kernelModuleAvailable(module: string): Promise<boolean> {
  try {
    const release = (await run('uname', ['-r'])).stdout.trim()
    const deps = await readFile(`/lib/modules/${release}/modules.dep`, 'utf8')
    return deps
      .split('\n')
      .some((line) => line.split(':')[0]?.endsWith(`/${module}.ko`) || line.split(':')[0]?.includes(`/${module}.ko.`))
  } catch {
    return false
  }
}
