import { describe, expect, it } from 'vitest'
import {
  crSnapshotTarget,
  findOrphanedCrSnapshots,
  type ReplicaFacts,
  replicationSnapshotName,
  type SnapshotFacts,
} from '../../provider/drift'

const SR_A = '11111111-2222-4333-8444-555555555555'
const SR_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'
const GONE = '99999999-8888-4777-8666-555555555555'

function snapshot(
  uuid: string,
  name: string,
  otherConfig: Record<string, string> = {},
  vdiUuids: string[] = [],
): SnapshotFacts {
  return { uuid, name, isSnapshot: true, otherConfig, vm: { uuid: `vm-of-${uuid}`, name: `vm ${uuid}` }, vdiUuids }
}

function replicas(copies: Record<string, string[]>): ReplicaFacts {
  return {
    srs: new Map([
      [SR_A, { name: 'Local storage' }],
      [SR_B, { name: 'DR storage' }],
    ]),
    copiesOn: new Map(Object.entries(copies).map(([sr, list]) => [sr, new Set(list)])),
  }
}

describe('continuous-replication snapshots', () => {
  it('are recognised by the legacy name, whatever the SR name holds, and by xo:backup:sr', () => {
    expect(replicationSnapshotName('DR (site 2)', SR_B)).toBe(`XO_DELTA_EXPORT: DR (site 2) (${SR_B})`)
    expect(crSnapshotTarget(snapshot('s1', replicationSnapshotName('DR (site 2)', SR_B)))).toEqual({
      srUuid: SR_B,
      marker: 'legacy-name',
    })
    expect(crSnapshotTarget(snapshot('s2', 'anything', { 'xo:backup:sr': SR_A }))).toEqual({
      srUuid: SR_A,
      marker: 'xo:backup:sr',
    })
  })

  it('are not: snapshots of replicas (xo:copy_of), VMs, and ordinary snapshots', () => {
    expect(crSnapshotTarget(snapshot('s', 'x', { 'xo:backup:sr': SR_A, 'xo:copy_of': 'base' }))).toBeUndefined()
    expect(crSnapshotTarget({ ...snapshot('s', `XO_DELTA_EXPORT: A (${SR_A})`), isSnapshot: false })).toBeUndefined()
    expect(crSnapshotTarget(snapshot('s', '[XO Backup nightly] web-01'))).toBeUndefined()
    expect(crSnapshotTarget(snapshot('s', `XO_DELTA_EXPORT: A (${SR_A}) copy`))).toBeUndefined()
  })
})

describe('orphaned', () => {
  it('when no replica on the target continues from the snapshot (by its uuid, legacy, or a VDI uuid, newer XO)', () => {
    const byVm = snapshot('s-vm', replicationSnapshotName('DR storage', SR_B))
    const byVdi = snapshot('s-vdi', 'base', { 'xo:backup:sr': SR_B }, ['vdi-1', 'vdi-2'])
    const orphan = snapshot('s-orphan', replicationSnapshotName('DR storage', SR_B), {}, ['vdi-3'])
    const elsewhere = snapshot('s-elsewhere', replicationSnapshotName('Local storage', SR_A))
    const found = findOrphanedCrSnapshots(
      [byVm, byVdi, orphan, elsewhere],
      replicas({ [SR_B]: ['s-vm', 'vdi-2'], [SR_A]: ['vdi-3'] }),
    )
    expect(found.map((o) => [o.uuid, o.reason, o.srUuid])).toEqual([
      ['s-elsewhere', 'no-replica', SR_A],
      ['s-orphan', 'no-replica', SR_B],
    ])
    expect(found[1]?.message).toBe(
      `replication snapshot "XO_DELTA_EXPORT: DR storage (${SR_B})" (s-orphan) on VM "vm s-orphan" has no replica on SR "DR storage" (${SR_B}) that continues from it`,
    )
  })

  it('when the SR it points at exists in no pool looked at', () => {
    const found = findOrphanedCrSnapshots([snapshot('s', `XO_DELTA_EXPORT: Old (${GONE.toUpperCase()})`)], replicas({}))
    expect(found).toMatchObject([{ uuid: 's', reason: 'sr-missing', srUuid: GONE }])
    expect(found[0]?.message).toContain(`points at SR ${GONE}, which does not exist in any configured pool`)
  })
})
