import { execFile } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FileBackend } from '../../../provider/remote/file/file-backend'
import type { RemoteListing } from '../../../provider/remote/restore/list-remote'
import { sh } from '../../disk/helpers'
import { type SambaServer, startSamba } from '../../helpers/samba'
import { DAY, HOUR, Repository, T0 } from '../maintenance/fixtures'
import { writeXoRepository, XO_VM } from './xo-fixture'

/** `xcp-backup ls` as users run it: the built CLI in its own process. */

const run = promisify(execFile)
const cli = join(__dirname, '..', '..', '..', 'dist', 'provider', 'cli', 'main.js')

async function ls(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'ls', ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 16 * 1024 * 1024,
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

let root: string
let ours: Repository
let fulls: Repository

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xcp-ls-'))
  const backend = await FileBackend.open(root)
  ours = new Repository(backend)
  await ours.full(T0, [0, 1, 2], { tags: ['daily=2024-05-01'] })
  await ours.delta(T0 + DAY, [1], { tags: ['daily=2024-05-02'] })
  await ours.delta(T0 + DAY + HOUR, [2])
  fulls = new Repository(backend)
  await fulls.xva(T0, { diskBytes: 64 * 1024 })
  await writeXoRepository(root)
})
afterAll(() => rm(root, { recursive: true, force: true }))

describe('xcp-backup ls on a file remote', () => {
  it('lists every VM and backup for people, with what is incomplete and why', async () => {
    const { code, stdout, stderr } = await ls([`file://${root}`])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout).toContain(`Remote file://${root}: 3 VMs, 8 backups (1 incomplete)`)
    expect(stdout).toContain(`VM web-01  ${ours.vmUuid}  (3 backups)`)
    expect(stdout).toMatch(
      /2024-05-01 03:00:00 {2}delta {2}\d+\.\d MiB +1 \(full\) +complete +\S{8} {2}\S{8} {2}daily=2024-05-01/,
    )
    expect(stdout).toMatch(/2024-05-02 04:00:00 {2}delta .* 1 \(delta\) +complete .* -$/m)
    expect(stdout).toContain(`  jobs: ${ours.jobId}`)
    // Xen Orchestra's backups: the XenServer 7.0 one's XVA is missing.
    expect(stdout).toContain(`VM web-01  ${XO_VM}  (4 backups)`)
    expect(stdout).toMatch(/2026-08-19 03:00:12 {2}full +10\.0 KiB +xva +incomplete/)
    expect(stdout).toContain(`      missing xo-vm-backups/${XO_VM}/20260819T030012Z.xva`)
    expect(stdout).toMatch(/2026-08-22 03:00:12 {2}delta +4\.0 KiB +2 \(1 delta\) +complete .* daily=2026-08-22/)
  })

  it('prints JSON a script can use', async () => {
    const { code, stdout } = await ls([`file://${root}`, '--json'])
    expect(code).toBe(0)
    const listing = JSON.parse(stdout) as RemoteListing
    expect(listing.vms.map((vm) => vm.uuid).sort()).toEqual([ours.vmUuid, fulls.vmUuid, XO_VM].sort())
    const xo = listing.vms.find((vm) => vm.uuid === XO_VM)!
    expect(xo.backups.map((b) => [b.time, b.mode, b.status])).toEqual([
      ['2026-08-19T03:00:12.000Z', 'full', 'incomplete'],
      ['2026-08-20T03:00:12.000Z', 'delta', 'complete'],
      ['2026-08-21T03:00:12.000Z', 'full', 'complete'],
      ['2026-08-22T03:00:12.000Z', 'delta', 'complete'],
    ])
    expect(xo.backups[2]!.tags).toEqual(['daily=2026-08-21', 'weekly=2026-34'])
    // The older XO keyed isVhdDifferencing "<ref>.vhd".
    expect(xo.backups[1]!.disks).toEqual([
      {
        ref: 'OpaqueRef:aa000000-0000-4000-8000-000000000001',
        uuid: 'd1d2c3b4-a596-4877-8695-a4b3c2d1e0f9',
        vhd: `xo-vm-backups/${XO_VM}/vdis/d4a1e6b2-3c5f-4a8e-9b7d-1f2e3c4d5a6b/5f4e3d2c-1b0a-4998-8776-655443322110/20260820T030012Z.vhd`,
        differencing: false,
      },
    ])
    expect(xo.backups[3]!.disks!.map((d) => [d.name, d.virtualSize, d.differencing])).toEqual([
      ['web-01 root', 10737418240, true],
      ['web-01 data', 21474836480, false],
    ])
    const full = listing.vms.find((vm) => vm.uuid === fulls.vmUuid)!.backups[0]!
    expect(full).toMatchObject({ mode: 'full', xva: full.path.replace(/\.json$/, '.xva'), status: 'complete' })
  })

  it('changes nothing on the remote, not even a stale cache', async () => {
    const cache = join(root, ours.dir, 'cache.json.gz')
    await writeFile(cache, 'not a cache')
    const before = await stat(cache)
    const { code } = await ls([`file://${root}`])
    expect(code).toBe(0)
    expect(await readFile(cache, 'utf8')).toBe('not a cache')
    expect((await stat(cache)).mtimeMs).toBe(before.mtimeMs)
  })

  it('explains bad arguments', async () => {
    const missing = await ls(['file:///nonexistent/remote'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/directory \/nonexistent\/remote does not exist/)
    const relative = await ls(['file://relative'])
    expect(relative.stderr).toMatch(/needs an absolute path/)
    const nfs = await ls(['nfs://nas:/export'])
    expect(nfs.stderr).toMatch(/mount the export .* file:\/\/\/mnt\/backups/)
  })
})

describe('xcp-backup ls on a Samba share', () => {
  let samba: SambaServer
  let work: string

  beforeAll(async () => {
    samba = await startSamba()
    work = await mkdtemp(join(tmpdir(), 'xcp-ls-smb-'))
    await cp(join(root, 'xo-vm-backups'), join(samba.shareDir, 'remote', 'xo-vm-backups'), { recursive: true })
    await sh('chown', ['-R', `${samba.username}:`, join(samba.shareDir, 'remote')])
  })
  afterAll(async () => {
    await samba?.stop()
    await rm(work, { recursive: true, force: true })
  })

  const url = () => `smb://${samba.username}@${samba.host}:${samba.port}/${samba.share}/remote`

  it('lists the same backups with the password from a file or from the environment, and never prints it', async () => {
    const passwordFile = join(work, 'password')
    await writeFile(passwordFile, `${samba.password}\n`, { mode: 0o600 })
    const fromFile = await ls([url(), '--json', '--password-file', passwordFile])
    expect(fromFile.stderr).toBe('')
    expect(fromFile.code).toBe(0)
    const fromEnv = await ls([url(), '--credentials-env', 'SMB_PASSWORD'], { SMB_PASSWORD: samba.password })
    expect(fromEnv.code).toBe(0)
    for (const output of [fromFile.stdout, fromEnv.stdout]) expect(output).not.toContain(samba.password)

    const onShare = JSON.parse(fromFile.stdout) as RemoteListing
    const local = JSON.parse((await ls([`file://${root}`, '--json'])).stdout) as RemoteListing
    expect(onShare.remote).toBe(url())
    expect(onShare.vms).toEqual(local.vms)
    expect(fromEnv.stdout).toContain(`Remote ${url()}: 3 VMs, 8 backups (1 incomplete)`)
  })

  it('refuses to run without a password, and fails a wrong one without printing either', async () => {
    const none = await ls([url()])
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/needs a password: pass --password-file FILE or --credentials-env VARIABLE/)

    const wrong = 'Wrong-Pass-1234'
    const denied = await ls([url(), '--credentials-env', 'SMB_PASSWORD'], { SMB_PASSWORD: wrong })
    expect(denied.code).toBe(1)
    expect(denied.stderr.length).toBeGreaterThan(0)
    for (const secret of [wrong, samba.password]) {
      expect(denied.stdout + denied.stderr).not.toContain(secret)
    }
    expect(samba.log()).not.toContain(wrong)

    const unset = await ls([url(), '--credentials-env', 'NOT_SET_ANYWHERE'])
    expect(unset.stderr).toMatch(/environment variable NOT_SET_ANYWHERE is not set/)

    const inline = await ls([`smb://${samba.username}:${samba.password}@${samba.host}:${samba.port}/${samba.share}`])
    expect(inline.code).toBe(1)
    expect(inline.stderr).toMatch(/must not contain a password/)
    expect(inline.stderr).not.toContain(samba.password)
  })
})
