import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nfsMountArguments } from '../../provider/remote/nfs/nfs-backend'
import { openRemote } from '../../provider/remote/open-remote'

/**
 * No NFS server can run here and the kernel has no NFS client (test-infrastructure.md), so this
 * tests what users on such hosts get: the real `mount` attempt fails and the error says why and
 * what to do instead. The mount arguments are checked against XO's form.
 */
describe('NFS remotes', () => {
  let mountsDir: string
  beforeAll(async () => {
    mountsDir = await mkdtemp(join(tmpdir(), 'xcp-nfs-mounts-'))
  })
  afterAll(() => rm(mountsDir, { recursive: true, force: true }))

  it("builds XO's mount command: -t nfs host:/export dir, port and options in -o", () => {
    const location = { type: 'nfs' as const, host: 'nas.lan', port: undefined, exportPath: '/export/xo' }
    expect(nfsMountArguments(location, '/run/mounts/r1')).toEqual(['-t', 'nfs', 'nas.lan:/export/xo', '/run/mounts/r1'])
    expect(nfsMountArguments({ ...location, port: 2049 }, '/m', ['vers=4.1', 'soft'])).toEqual([
      '-t',
      'nfs',
      'nas.lan:/export/xo',
      '/m',
      '-o',
      'port=2049,vers=4.1,soft',
    ])
  })

  it('where mounting is impossible, says why and suggests mounting it yourself and using file://', async () => {
    const error = await openRemote(
      { type: 'nfs', host: '127.0.0.1', port: undefined, exportPath: '/export/backups' },
      { name: 'nas', nfs: { mountsDir, remoteId: 'remote-1' }, retry: false },
    ).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    )
    expect(error).toBeDefined()
    expect(error!.code).toBe('EMOUNT')
    const message = error!.message
    expect(message).toMatch(
      new RegExp(
        `^cannot mount NFS export 127\\.0\\.0\\.1:/export/backups for remote nas on ${mountsDir}/remote-1: mount said "[^"]+"`,
      ),
    )
    expect(message).toContain(
      'Mount the export yourself (for example in /etc/fstab: "127.0.0.1:/export/backups /mnt/backups nfs defaults 0 0")',
    )
    expect(message).toContain('and use the remote URL file:///mnt/backups instead.')
    // The reason matches this host: root or not, NFS client installed or not.
    const helperInstalled = await Promise.any(['/sbin/mount.nfs', '/usr/sbin/mount.nfs'].map((p) => access(p))).then(
      () => true,
      () => false,
    )
    if (!helperInstalled)
      expect(message).toContain(
        'the NFS client is not installed (mount.nfs; Debian/Ubuntu: apt-get install nfs-common)',
      )
    if (process.getuid?.() !== 0) expect(message).toContain('mounting needs root and this process is not root')
  })
})
