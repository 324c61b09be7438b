import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A real, small file system for ENOSPC tests: a tmpfs of `sizeBytes`, mounted in a private mount
 * namespace owned by a child process (`unshare`), so nothing leaks into the machine's mounts and it
 * disappears with the child. This process reaches it through /proc/<child>/root/<dir>.
 *
 * As root: `unshare --mount`. Otherwise: `unshare --user --map-root-user --mount` (needs
 * unprivileged user namespaces). If neither works the helper fails with the reason: no faking.
 */
export interface SmallFilesystem {
  /** The tmpfs as this process sees it. */
  readonly path: string
  stop(): Promise<void>
}

export async function createSmallFilesystem(sizeBytes: number): Promise<SmallFilesystem> {
  const mountPoint = await mkdtemp(join(tmpdir(), 'xcp-smallfs-'))
  const namespaceArgs = process.getuid?.() === 0 ? ['--mount'] : ['--user', '--map-root-user', '--mount']
  const child = spawn(
    'unshare',
    [
      ...namespaceArgs,
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs -o "size=$1,mode=0777" tmpfs "$2" && echo ready && exec sleep 100000',
      'sh',
      String(sizeBytes),
      mountPoint,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (data: Buffer) => {
      output += data
      if (output.includes('ready')) resolve()
    })
    child.stderr.on('data', (data: Buffer) => {
      output += data
    })
    child.once('error', reject)
    void exited.then(() => reject(new Error(`could not mount a ${sizeBytes}-byte tmpfs with unshare: ${output}`)))
  })
  return {
    path: `/proc/${child.pid}/root${mountPoint}`,
    stop: async () => {
      child.kill('SIGKILL')
      await exited
      await rm(mountPoint, { recursive: true, force: true })
    },
  }
}
