import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { packageRoot } from '../../../provider/common/package-info'
import { type RunningSimulator, startSimulator } from '../../../simulator'
import { createPulumiWorkspace, type PulumiWorkspace } from '../../helpers/pulumi'
import { keyOf, makeReplica, makeSnapshot, poolOtherConfig, vmExists } from '../../resources/pool-objects'

/**
 * The replication example under the real Pulumi CLI, with two simulated pools: the production pool
 * ("main", the demo pool) and the disaster-recovery pool ("dr"). Orphaned continuous-replication
 * snapshots on the production VMs are drift that `pulumi up --refresh` repairs; those of an SR no pool has
 * are only reported.
 */

const CLI_TIMEOUT = 240_000

let main: RunningSimulator
let dr: RunningSimulator
let ws: PulumiWorkspace
let drSrUuid: string
const snapshots: Record<'orphan' | 'chained' | 'missingSr', string> = { orphan: '', chained: '', missingSr: '' }
let replica: string

beforeAll(async () => {
  main = await startSimulator({ password: 'main-pw-1Kd7', log: () => undefined })
  dr = await startSimulator({
    password: 'dr-pw-5Tg2',
    fixture: join(packageRoot, 'examples/replication/dr-pool.yaml'),
    log: () => undefined,
  })
  const [sr] = dr.core.db.filter('SR', (record) => record.name_label === 'DR storage')
  drSrUuid = String(dr.core.db.get('SR', sr!).uuid)
  ws = await createPulumiWorkspace(join(packageRoot, 'examples/replication'))
  await ws.expect([
    'config',
    'set-all',
    '--path',
    '--plaintext',
    `xcp-backup:pools.main.url=${main.url}`,
    '--plaintext',
    'xcp-backup:pools.main.default=true',
    '--secret',
    `xcp-backup:pools.main.password=${main.password}`,
    '--plaintext',
    `xcp-backup:pools.dr.url=${dr.url}`,
    '--secret',
    `xcp-backup:pools.dr.password=${dr.password}`,
  ])
}, CLI_TIMEOUT)

afterAll(async () => {
  await main?.close()
  await dr?.close()
  await ws?.dispose()
})

describe('the replication example under the Pulumi CLI', () => {
  it(
    'stores the job in the production pool and the target in the pool of its SR',
    async () => {
      const up = await ws.expect(['up', '--yes'])
      expect(up.stdout).toMatch(/\+ 3 created/)
      expect(JSON.parse(poolOtherConfig(dr)[keyOf('ReplicationTarget', 'dr-site')]!).spec).toEqual({
        name: 'dr-site',
        sr: 'DR storage',
        pool: 'dr',
      })
      expect(JSON.parse(poolOtherConfig(main)[keyOf('BackupJob', 'replicate prod')]!).spec.replicationTargets).toEqual([
        'dr-site',
      ])
      const outputs = JSON.parse((await ws.expect(['stack', 'output', '--json'])).stdout)
      expect(outputs.drStorage).toEqual({ name: 'DR storage', type: 'nfs', freeGiB: 2048 })
      expect(outputs.orphanedSnapshots).toEqual([])
    },
    CLI_TIMEOUT,
  )

  it(
    'shows orphaned replication snapshots as drift, and up --refresh destroys only those pointing at the target',
    async () => {
      snapshots.orphan = (
        await makeSnapshot(main, 'web-01', { name: `XO_DELTA_EXPORT: DR storage (${drSrUuid})` })
      ).uuid
      snapshots.chained = (
        await makeSnapshot(main, 'db-01', { name: `XO_DELTA_EXPORT: DR storage (${drSrUuid})` })
      ).uuid
      replica = await makeReplica(dr, { name: 'db-01 replica', sr: 'DR storage', copyOf: snapshots.chained })
      snapshots.missingSr = (
        await makeSnapshot(main, 'legacy-app', {
          name: 'CR base',
          otherConfig: { 'xo:backup:sr': '5d9e7c1a-0b2c-4d3e-8f4a-6b5c4d3e2f1a' },
        })
      ).uuid

      const drift = await ws.expect(['preview', '--refresh', '--diff', '--expect-no-changes'], 7)
      const shown = drift.stdout + drift.stderr
      expect(shown).toMatch(/~ orphanedSnapshots\s*: \[\s*\+ \[0\]: \{/)
      expect(shown).toContain(`uuid  : "${snapshots.orphan}"`)
      expect(shown).not.toContain(`uuid  : "${snapshots.chained}"`)
      expect(shown).toMatch(
        /warning: ReplicationTarget "dr-site": replication snapshot "CR base" .* points at SR 5d9e7c1a-0b2c-4d3e-8f4a-6b5c4d3e2f1a, which does not exist in any configured pool; not destroyed automatically/,
      )

      const up = await ws.expect(['up', '--refresh', '--yes'])
      expect(up.stdout + up.stderr).toContain(
        `info: ReplicationTarget "dr-site": destroyed replication snapshot "XO_DELTA_EXPORT: DR storage (${drSrUuid})" (${snapshots.orphan}) on VM "web-01"`,
      )
      expect(vmExists(main, snapshots.orphan)).toBe(false)
      expect(vmExists(main, snapshots.chained)).toBe(true)
      expect(vmExists(main, snapshots.missingSr)).toBe(true)
      expect(vmExists(dr, replica)).toBe(true)

      // The orphan of a missing SR is reported on every run, but it is not drift Pulumi can repair.
      await ws.expect(['preview', '--refresh', '--expect-no-changes'])
      const outputs = JSON.parse((await ws.expect(['stack', 'output', '--json'])).stdout)
      expect(outputs.orphansOfMissingSrs.map((o: { uuid: string }) => o.uuid)).toEqual([snapshots.missingSr])
    },
    CLI_TIMEOUT,
  )

  it(
    'destroy removes the policy from both pools and keeps replicas and snapshots',
    async () => {
      await ws.expect(['destroy', '--yes'])
      const keys = (sim: RunningSimulator) =>
        Object.keys(poolOtherConfig(sim)).filter((k) => k.startsWith('xcp-backup:'))
      expect(keys(main)).toEqual([])
      expect(keys(dr)).toEqual([])
      for (const uuid of [snapshots.chained, snapshots.missingSr]) expect(vmExists(main, uuid)).toBe(true)
      expect(vmExists(dr, replica)).toBe(true)
    },
    CLI_TIMEOUT,
  )
})
