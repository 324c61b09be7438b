import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Xapi } from 'xen-api'
import { checkPolicy } from '../../provider/policy'
import { connectPool } from '../../provider/pool/connection'
import { type PoolInventory, readInventory } from '../../provider/pool/inventory'
import { jobPreflight } from '../../provider/resources/job-preflight'
import { parseFixture, type RunningSimulator, startSimulator } from '../../simulator'
import { lengthenChain } from './pool-objects'

/**
 * BackupJob preflight over a pool read with the real client: the predictions `pulumi preview` prints.
 * The pool has a thick LVM SR 70% full holding the disks of two prod VMs.
 */

let sim: RunningSimulator
let xapi: Xapi
let inventory: PoolInventory

const fixture = parseFixture(
  `
pool: { name: Preflight pool }
hosts: [{ name: h1 }]
srs:
  - { name: Local, type: ext, size: 500GiB, host: h1, default: true }
  - { name: LVM, type: lvm, size: 200GiB, host: h1 }
vms:
  - { name: big-db, powerState: Running, tags: [prod], disks: [{ size: 120GiB, sr: LVM, used: 50% }] }
  - { name: app, powerState: Running, tags: [prod], disks: [{ size: 20GiB, sr: LVM }, { name: "[NOBAK] scratch", size: 30GiB, sr: Local }] }
  - { name: web, powerState: Running, tags: [prod], disks: [{ size: 10GiB, sr: Local }] }
  - { name: ci, powerState: Running, tags: [prod, "xo:no-bak"], disks: [{ size: 10GiB, sr: Local }] }
`,
  'preflight fixture',
)

beforeAll(async () => {
  sim = await startSimulator({ fixture, log: () => undefined })
  lengthenChain(sim, 'web', 27)
  xapi = await connectPool({ name: 'p', url: sim.url, user: 'root', password: sim.password }, { watchEvents: false })
  inventory = await readInventory(xapi)
})

afterAll(async () => {
  await xapi?.disconnect()
  await sim?.close()
})

function preflight(args: Record<string, unknown>, lastRunMs?: number) {
  const job = {
    name: 'job',
    mode: 'delta',
    remotes: ['r'],
    schedules: [{ name: 'daily', cron: '0 2 * * *', exportRetention: 3 }],
    ...args,
  }
  const checked = checkPolicy('BackupJob', job)
  if (!checked.ok) throw new Error(JSON.stringify(checked.failures))
  return jobPreflight({
    job: checked.value,
    written: job,
    jobId: 'job',
    pool: inventory,
    poolLabel: '"main"',
    otherPools: [],
    lastRunMs,
    now: new Date('2026-11-22T00:00:00Z'),
  })
}

describe('BackupJob preflight', () => {
  it('predicts SR_BACKEND_FAILURE_44 on a thick SR whose free space cannot hold snapshots of the selected disks', () => {
    const { warnings, failures, selected } = preflight({ vms: { select: 'smart', tags: ['prod'] } })
    expect(failures).toEqual([])
    expect(selected?.map((vm) => vm.name_label)).toEqual(['big-db', 'app', 'web'])
    const thick = warnings.filter((w) => w.includes('SR_BACKEND_FAILURE_44'))
    expect(thick).toEqual([
      'SR "LVM" is thick-provisioned (lvm), so a snapshot reserves the full size of each disk; it is 70% full ' +
        '(140.3 GiB of 200 GiB used, 59.7 GiB free) and snapshotting the disks this job selects there needs 140 GiB ' +
        '(big-db: 120 GiB, app: 20 GiB): snapshots will fail with SR_BACKEND_FAILURE_44 (Not enough space on the ' +
        'storage repository). Keep thick SRs under 50% used, free space, move disks to a thin SR, or back up fewer ' +
        'of its VMs at once.',
    ])
  })

  it('does not warn when the selected disks fit, nor for thin SRs', () => {
    const { warnings } = preflight({ vms: { select: 'explicit', list: ['app'] } })
    expect(warnings).toEqual([])
  })

  it('warns about a VHD chain near the limit of 30', () => {
    const { warnings } = preflight({ vms: { select: 'explicit', list: ['web'] } })
    expect(warnings).toEqual([
      'VM "web" disk "web 0" has a VHD chain of 27; XenServer refuses snapshots from 30 (SR_BACKEND_FAILURE_109: ' +
        'Snapshot chain too long), so 3 more snapshots without a coalesce and its backups fail. Check that the host ' +
        'coalesces (grep -i coalesce /var/log/SMlog) and that old snapshots are deleted.',
    ])
  })

  it('warns when nothing matches, saying why, with XO’s message', () => {
    const { warnings, selected } = preflight({ vms: { select: 'smart', tags: ['staging'] } })
    expect(selected).toEqual([])
    expect(warnings).toEqual([
      expect.stringMatching(
        /^no VM matches the selection now \(4 VMs considered: 3 lack the tags, 1 are tagged xo:no-bak\): each run would be skipped with "no VMs match this pattern" \(NO_VMS_MATCH: /,
      ),
    ])
  })

  it('warns about listed VMs that are never backed up, and fails on names that match no VM', () => {
    const { warnings, failures } = preflight({ vms: { select: 'explicit', list: ['ci', 'wbe'] } })
    expect(warnings).toEqual(['VM "ci" is listed but will not be backed up: tagged "xo:no-bak": never backed up'])
    expect(failures).toEqual([
      { property: 'vms.list[1]', reason: 'no VM has the name "wbe" in pool "main" (did you mean "web"?)' },
    ])
  })

  it('warns when the job fires more often than its last run lasted', () => {
    const args = { vms: { select: 'explicit', list: ['app'] } }
    expect(preflight(args, 23 * 3_600_000).warnings).toEqual([])
    expect(preflight(args, 25 * 3_600_000).warnings).toEqual([
      expect.stringMatching(
        /^schedule "daily" fires as little as 1 day apart .* the last run took 1 day 1 hour.*\(JOB_ALREADY_RUNNING\)$/,
      ),
    ])
  })
})
