import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Xapi } from 'xen-api'
import { packageRoot } from '../../../provider/common/package-info'
import { connectPool } from '../../../provider/pool/connection'
import { idForName } from '../../../provider/pool/store-ids'
import { type RunningSimulator, startSimulator } from '../../../simulator'
import { createPulumiWorkspace, openPulumiWorkspace, type PulumiWorkspace } from '../../helpers/pulumi'
import { keyOf, makeSnapshot, poolOtherConfig, secretValues, vmExists, vmTagsOf } from '../../resources/pool-objects'
import { filesUnder, grepTree } from './files'

/**
 * The quickstart under the real Pulumi CLI against the simulated demo pool, as one stack's life: up,
 * drift made through XAPI and repaired, an update and a replace, bad arguments, a change of provider code
 * between runs, destroy; then every file and output is searched for the passwords.
 */

const POOL_PASSWORD = 'pool-root-pw-3Zq8'
const OFFSITE_PASSWORD = 'offsite-smb-pw-7Hc1'
const ROTATED_PASSWORD = 'offsite-smb-pw-rotated-9Lw5'
const CLI_TIMEOUT = 240_000

let sim: RunningSimulator
let simState: string
let xapi: Xapi
let ws: PulumiWorkspace
let backupDir: string
let backupSnapshot: string

beforeAll(async () => {
  simState = await mkdtemp(join(tmpdir(), 'xcpb-e2e-sim-'))
  sim = await startSimulator({ stateDir: simState, password: POOL_PASSWORD, saveDebounceMs: 20, log: () => undefined })
  xapi = await connectPool({ name: 'sim', url: sim.url, user: 'root', password: POOL_PASSWORD }, { watchEvents: false })
  ws = await createPulumiWorkspace(join(packageRoot, 'examples/quickstart'))
  backupDir = join(ws.dir, '..', 'backups')
  // Backups already on the remote, and a backup snapshot on a VM: destroying the policy must keep them.
  await mkdir(join(backupDir, 'xo-vm-backups/vm-1/vdis/job/vdi'), { recursive: true })
  await writeFile(join(backupDir, 'xo-vm-backups/vm-1/20261121T020012Z.json'), '{"mode":"delta"}')
  await writeFile(join(backupDir, 'xo-vm-backups/vm-1/vdis/job/vdi/20261121T020012Z.vhd'), Buffer.alloc(4096, 1))
  backupSnapshot = (
    await makeSnapshot(sim, 'web-01', {
      name: '[XO Backup nightly] web-01',
      otherConfig: { 'xo:backup:job': 'nightly', 'xo:backup:datetime': '20261121T02:00:12Z' },
    })
  ).uuid
  await ws.expect([
    'config',
    'set-all',
    '--path',
    '--plaintext',
    `xcp-backup:pools.main.url=${sim.url}`,
    '--plaintext',
    'xcp-backup:pools.main.user=root',
    '--secret',
    `xcp-backup:pools.main.password=${POOL_PASSWORD}`,
    '--plaintext',
    `backupDir=${backupDir}`,
    '--plaintext',
    'offsiteUrl=smb://backup@nas.lan/xcp',
    '--secret',
    `offsitePassword=${OFFSITE_PASSWORD}`,
  ])
}, CLI_TIMEOUT)

afterAll(async () => {
  await xapi?.disconnect()
  await sim?.close()
  await ws?.dispose()
  await rm(simState, { recursive: true, force: true })
})

const policyKeys = () =>
  Object.keys(poolOtherConfig(sim))
    .filter((key) => key.startsWith('xcp-backup:'))
    .sort()
const spec = (key: string) => JSON.parse(poolOtherConfig(sim)[key]!).spec
async function setOtherConfig(key: string, value: string | undefined) {
  const [pool] = await xapi.call<string[]>('pool.get_all')
  await xapi.call('pool.remove_from_other_config', pool, key)
  if (value !== undefined) await xapi.call('pool.add_to_other_config', pool, key, value)
}

describe('the quickstart under the Pulumi CLI', () => {
  it(
    'pulumi up stores the policy in the pool and tags the VMs; preview warnings reach the user',
    async () => {
      // The runner's record of a run that took 25 hours: the daily schedule would overlap it.
      await setOtherConfig(
        keyOf('JobStatus', 'nightly'),
        JSON.stringify({
          jobId: idForName('BackupJob', 'nightly'),
          lastRun: { runId: 'mb9z00000-00000001', start: 1_763_600_000_000, end: 1_763_690_000_000, status: 'success' },
        }),
      )
      const up = await ws.expect(['up', '--yes'])
      expect(up.stdout + up.stderr).toMatch(
        /warning: BackupJob "nightly": schedule "nightly" fires as little as 23 hours apart .*the last run took 1 day 1 hour.*JOB_ALREADY_RUNNING/,
      )
      const named = [
        keyOf('BackupJob', 'nightly'),
        keyOf('BackupJob', 'weekly full'),
        keyOf('JobStatus', 'nightly'),
        keyOf('Remote', 'local'),
        keyOf('Remote', 'offsite'),
      ]
      expect(policyKeys().filter((key) => named.includes(key))).toEqual(named.sort())
      expect(policyKeys().filter((key) => !named.includes(key))).toEqual([
        expect.stringMatching(/^xcp-backup:vm-backup-tags:[0-9a-f-]{36}$/),
        expect.stringMatching(/^xcp-backup:vm-backup-tags:[0-9a-f-]{36}$/),
      ])
      expect(spec(keyOf('Remote', 'local')).url).toBe(`file://${backupDir}`)
      const offsiteSecret = spec(keyOf('Remote', 'offsite')).credentialsSecret as string
      expect(JSON.parse(secretValues(sim).get(offsiteSecret)!)).toEqual({ password: OFFSITE_PASSWORD })
      expect(spec(keyOf('BackupJob', 'weekly full'))).toMatchObject({ mode: 'full', compression: 'zstd' })
      expect(vmTagsOf(sim, 'legacy-app').sort()).toEqual(['prod', 'xo-offline-backup'])
      expect(vmTagsOf(sim, 'db-01').sort()).toEqual(['prod', 'xo-memory-backup'])

      const outputs = JSON.parse((await ws.expect(['stack', 'output', '--json'])).stdout)
      expect(outputs.nightlyVms.map((vm: { name: string }) => vm.name).sort()).toEqual([
        'db-01',
        'legacy-app',
        'web-01',
      ])
      expect(outputs.nightlyNextRuns[0].at).toHaveLength(3)

      // A warning is not a change: the preview is clean and still says it.
      const preview = await ws.expect(['preview', '--expect-no-changes'])
      expect(preview.stdout + preview.stderr).toMatch(/warning: BackupJob "nightly": schedule "nightly" fires/)
    },
    CLI_TIMEOUT,
  )

  it(
    'shows drift made through XAPI as exit code 7 with what drifted, and pulumi up --refresh repairs it',
    async () => {
      const legacy = (await xapi.call<string[]>('VM.get_by_name_label', 'legacy-app'))[0]
      await xapi.call('VM.remove_tags', legacy, 'xo-offline-backup')
      const job = JSON.parse(poolOtherConfig(sim)[keyOf('BackupJob', 'nightly')]!)
      job.spec.schedules[0].exportRetention = 2
      await setOtherConfig(keyOf('BackupJob', 'nightly'), JSON.stringify(job))
      await setOtherConfig(keyOf('Remote', 'local'), undefined)

      const drift = await ws.expect(['preview', '--refresh', '--diff', '--expect-no-changes'], 7)
      const shown = drift.stdout + drift.stderr
      expect(shown).toMatch(/exportRetention\s*: 7 => 2/)
      expect(shown).toMatch(/~ tags\s*: \[\s*- \[0\]: "xo-offline-backup"/)
      expect(shown).toMatch(/\+ pulumi-nodejs:dynamic\/xcp-backup:Remote: \(create\)/)
      expect(shown).toContain('no changes were expected for preview but changes were proposed')

      await ws.expect(['up', '--refresh', '--yes'])
      expect(vmTagsOf(sim, 'legacy-app').sort()).toEqual(['prod', 'xo-offline-backup'])
      expect(spec(keyOf('BackupJob', 'nightly')).schedules[0].exportRetention).toBe(7)
      expect(spec(keyOf('Remote', 'local')).url).toBe(`file://${backupDir}`)
      await ws.expect(['preview', '--refresh', '--expect-no-changes'])
    },
    CLI_TIMEOUT,
  )

  it(
    'applies a schedule edit as an update, a rename as a replace, and a new password as a secret rotation',
    async () => {
      const program = join(ws.dir, 'index.ts')
      const source = await readFile(program, 'utf8')
      await writeFile(
        program,
        source
          .replace("cron: '0 2 * * *'", "cron: '30 1 * * *'")
          .replace("new xcp.Remote('local', {\n  name: 'local',", "new xcp.Remote('local', {\n  name: 'local disk',"),
      )
      const oldSecret = spec(keyOf('Remote', 'offsite')).credentialsSecret as string
      await ws.expect(['config', 'set', '--secret', 'offsitePassword', ROTATED_PASSWORD])

      const up = await ws.expect(['up', '--yes'])
      const shown = up.stdout + up.stderr
      expect(shown).toMatch(
        /~\s+pulumi-nodejs:dynamic\/xcp-backup:BackupJob nightly updated.*\[diff: ~(remotes,)?schedules/,
      )
      expect(shown).toMatch(/\+-\s+pulumi-nodejs:dynamic\/xcp-backup:Remote local replaced.*\[diff: ~name\]/)
      // The CLI does not list secret properties in [diff: ...].
      expect(shown).toMatch(/~\s+pulumi-nodejs:dynamic\/xcp-backup:Remote offsite updated/)
      expect(policyKeys()).toContain(keyOf('Remote', 'local disk'))
      expect(policyKeys()).not.toContain(keyOf('Remote', 'local'))
      expect(spec(keyOf('BackupJob', 'nightly'))).toMatchObject({
        remotes: ['local disk', 'offsite'],
        schedules: [{ cron: '30 1 * * *' }],
      })
      const newSecret = spec(keyOf('Remote', 'offsite')).credentialsSecret as string
      expect(newSecret).not.toBe(oldSecret)
      expect(secretValues(sim).has(oldSecret)).toBe(false)
      expect(JSON.parse(secretValues(sim).get(newSecret)!)).toEqual({ password: ROTATED_PASSWORD })
    },
    CLI_TIMEOUT,
  )

  it(
    'fails pulumi preview on bad arguments, naming each field',
    async () => {
      const program = join(ws.dir, 'index.ts')
      const good = await readFile(program, 'utf8')
      const bad = good.replace(
        /const nightly = new xcp\.BackupJob\('nightly', \{[\s\S]*?\n\}\)\n/,
        `const nightlySchedule = { name: 'nightly', cron: '0 25 * * *', exportRetenion: 7 }
const nightly = new xcp.BackupJob('nightly', {
  name: 'nightly',
  mode: 'delta',
  vms: { select: 'explicit', list: ['web-01', 'db-O1'] },
  remotes: [local.name],
  schedules: [nightlySchedule],
  settings: { healthCheck: { sr: 'Fast SSD' } },
})
`,
      )
      expect(bad).not.toBe(good)
      await writeFile(program, bad)
      const preview = await ws.run(['preview'])
      await writeFile(program, good)
      expect(preview.code).not.toBe(0)
      const shown = preview.stdout + preview.stderr
      expect(shown).toMatch(/property schedules\[0\]\.cron .*"0 25 \* \* \*" is not a valid cron expression: hour 25/)
      expect(shown).toMatch(/property schedules\[0\]\.exportRetenion .*did you mean "exportRetention"\?/)
      expect(shown).toMatch(
        /property vms\.list\[1\] .*no VM has the name "db-O1" in pool "main" \(Demo pool\) \(did you mean "db-01"\?\)/,
      )
      expect(shown).toMatch(
        /property settings\.healthCheck\.sr .*no SR of pool "main" \(Demo pool\) has the name "Fast SSD"/,
      )
    },
    CLI_TIMEOUT,
  )

  it(
    'runs refresh and destroy with the installed package, not with code kept in the state',
    async () => {
      const state = JSON.parse(
        await readFile(join(ws.stateDir, '.pulumi/stacks/xcp-backup-quickstart/test.json'), 'utf8'),
      )
      const providers = new Set<string>()
      for (const resource of state.checkpoint.latest.resources) {
        if (!String(resource.type).startsWith('pulumi-nodejs:dynamic/xcp-backup:')) continue
        providers.add(resource.outputs.__provider)
      }
      expect(providers.size).toBe(3) // Remote, BackupJob, VmBackupTags
      for (const text of providers) {
        expect(text.length).toBeLessThan(8_000)
        expect(text).toContain("require('pulumi-xcp-backup/dist/provider/resources/entry.js')")
      }

      // A copy of the package whose entry point records each call, installed in place of the real one.
      const patched = join(ws.dir, '..', 'patched-package')
      const marker = join(ws.dir, '..', 'calls.log')
      await mkdir(patched)
      await cp(join(packageRoot, 'package.json'), join(patched, 'package.json'))
      await cp(join(packageRoot, 'dist'), join(patched, 'dist'), { recursive: true })
      await symlink(join(packageRoot, 'node_modules'), join(patched, 'node_modules'))
      const entry = join(patched, 'dist/provider/resources/entry.js')
      const code = await readFile(entry, 'utf8')
      const hooked = code.replace(
        'async function dispatch(kind, method, args) {',
        `async function dispatch(kind, method, args) {\n    require('node:fs').appendFileSync(${JSON.stringify(marker)}, method + ' ' + kind + '\\n');`,
      )
      expect(hooked).not.toBe(code)
      await writeFile(entry, hooked)
      await unlink(join(ws.dir, 'node_modules/pulumi-xcp-backup'))
      await symlink(patched, join(ws.dir, 'node_modules/pulumi-xcp-backup'))

      await ws.expect(['refresh', '--yes'])
      const afterRefresh = await readFile(marker, 'utf8')
      for (const kind of ['Remote', 'BackupJob', 'VmBackupTags']) expect(afterRefresh).toContain(`read ${kind}`)

      await ws.expect(['destroy', '--yes'])
      const calls = await readFile(marker, 'utf8')
      for (const kind of ['Remote', 'BackupJob', 'VmBackupTags']) expect(calls).toContain(`delete ${kind}`)
    },
    CLI_TIMEOUT,
  )

  it(
    'destroy removed the policy, its secrets and the managed tags, and kept the backups and snapshots',
    async () => {
      expect(policyKeys()).toEqual([])
      expect(secretValues(sim).size).toBe(0)
      expect(vmTagsOf(sim, 'legacy-app')).toEqual(['prod'])
      expect(vmTagsOf(sim, 'db-01')).toEqual(['prod'])
      expect(vmTagsOf(sim, 'web-01')).toEqual(['prod'])
      expect(vmTagsOf(sim, 'build-runner')).toEqual(['xo:no-bak'])
      expect(vmExists(sim, backupSnapshot)).toBe(true)
      expect(await filesUnder(backupDir)).toEqual([
        'xo-vm-backups/vm-1/20261121T020012Z.json',
        'xo-vm-backups/vm-1/vdis/job/vdi/20261121T020012Z.vhd',
      ])
    },
    CLI_TIMEOUT,
  )

  it('never wrote a password in plain text: state, Pulumi home, program, CLI output, pool, simulator state', async () => {
    await sim.control.flush()
    const passwords = [POOL_PASSWORD, OFFSITE_PASSWORD, ROTATED_PASSWORD]
    const places = [ws.home, ws.stateDir, ws.dir, simState]
    for (const place of places) expect(await grepTree(place, passwords)).toEqual([])
    expect((await readdir(ws.stateDir)).length).toBeGreaterThan(0)
    const transcript = ws.transcript.join('\n')
    expect(transcript).toContain('pulumi up')
    for (const password of passwords) {
      expect(transcript).not.toContain(password)
      expect(JSON.stringify(poolOtherConfig(sim))).not.toContain(password)
    }
  })
})

describe('the repository root Pulumi.yaml', () => {
  it(
    'runs the quickstart, with the pool from XCP_BACKUP_URL, XCP_BACKUP_USER and XCP_BACKUP_PASSWORD',
    async () => {
      // A mirror of the repository root: its Pulumi.yaml, examples/ and node_modules, as they are.
      const root = await mkdtemp(join(tmpdir(), 'xcpb-root-'))
      const mirror = join(root, 'repo')
      await mkdir(mirror)
      await cp(join(packageRoot, 'Pulumi.yaml'), join(mirror, 'Pulumi.yaml'))
      await symlink(join(packageRoot, 'examples'), join(mirror, 'examples'))
      await symlink(join(packageRoot, 'node_modules'), join(mirror, 'node_modules'))
      const root_ = await openPulumiWorkspace(root, mirror, 'root')
      try {
        Object.assign(root_.env, {
          XCP_BACKUP_URL: sim.url,
          XCP_BACKUP_USER: 'root',
          XCP_BACKUP_PASSWORD: POOL_PASSWORD,
        })
        const preview = await root_.expect(['preview'])
        expect(preview.stdout).toMatch(/\+ 6 to create/)
      } finally {
        await root_.dispose()
      }
    },
    CLI_TIMEOUT,
  )
})
