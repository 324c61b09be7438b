import { describe, expect, it } from 'vitest'
import {
  parsePolicy,
  type SelectionResult,
  selectVms,
  type VmFacts,
  type VmSelectionInput,
} from '../../provider/policy'

const JOB = '7f9f2c4e-1111-4a2b-9c3d-5e6f7a8b9c0d'
let counter = 0

function vm(name: string, facts: Partial<VmFacts> = {}): VmFacts {
  counter++
  return {
    uuid: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    name_label: name,
    power_state: 'Running',
    tags: [],
    poolUuid: 'a0a0a0a0-0000-4000-8000-000000000001',
    poolName: 'prod',
    is_a_template: false,
    is_a_snapshot: false,
    is_control_domain: false,
    other_config: {},
    blocked_operations: {},
    ...facts,
  }
}

/** Selection from what users write (so defaults such as excludeTags apply). */
function select(vms: VmSelectionInput, facts: readonly VmFacts[]): SelectionResult {
  const job = parsePolicy('BackupJob', {
    name: 'job',
    mode: 'delta',
    vms,
    remotes: ['nas'],
    schedules: [{ name: 's', cron: '0 0 * * *', exportRetention: 1 }],
  })
  return selectVms(job.vms, facts, JOB)
}

const names = (list: readonly { vm: VmFacts }[] | readonly VmFacts[]) =>
  list.map((entry) => ('vm' in entry ? entry.vm.name_label : entry.name_label))

describe('smart selection', () => {
  const web = vm('web', { tags: ['prod'] })
  const db = vm('db', { tags: ['prod', 'db'], power_state: 'Halted' })
  const test = vm('test', { tags: ['prod', 'test'] })
  const other = vm('other', { tags: ['prod'], poolUuid: 'b0b0b0b0-0000-4000-8000-000000000002', poolName: 'lab' })
  const untagged = vm('untagged')
  const noBak = vm('scratch', { tags: ['prod', 'xo:no-bak'] })
  const noBakReason = vm('health check', { tags: ['prod', 'xo:no-bak=Health Check'] })
  const ownReplica = vm('web [replica]', {
    tags: ['prod'],
    other_config: { 'xo:backup:job': JOB },
    blocked_operations: { start: 'Start operation for this vm is blocked, clone it if you want to use it.' },
  })
  const otherJobReplica = vm('db [replica]', {
    tags: ['prod', 'Continuous Replication'],
    other_config: { 'xo:backup:job': 'another' },
    blocked_operations: { start: 'x' },
  })
  const unblockedCopy = vm('restored', { tags: ['prod'], other_config: { 'xo:backup:job': JOB } })
  const template = vm('Debian template', { is_a_template: true, tags: ['prod'] })
  const snapshot = vm('web snapshot', { is_a_snapshot: true, tags: ['prod'] })
  const dom0 = vm('Control domain', { is_control_domain: true, tags: ['prod'] })
  const all = [
    web,
    db,
    test,
    other,
    untagged,
    noBak,
    noBakReason,
    ownReplica,
    otherJobReplica,
    unblockedCopy,
    template,
    snapshot,
    dom0,
  ]

  it('selects VMs carrying any included tag, and says why the others are left out', () => {
    const result = select(
      { select: 'smart', tags: ['prod', 'db'], excludeTags: ['test', 'Continuous Replication'] },
      all,
    )
    expect(names(result.selected)).toEqual(['web', 'db', 'other', 'restored'])
    expect(result.excluded.map(({ vm, code }) => [vm.name_label, code])).toEqual([
      ['test', 'excluded-tag'],
      ['untagged', 'missing-tag'],
      ['scratch', 'no-backup-tag'],
      ['health check', 'no-backup-tag'],
      ['web [replica]', 'own-replica'],
      ['db [replica]', 'excluded-tag'],
    ])
    expect(result.unresolved).toEqual([])
  })

  it('gives readable reasons', () => {
    const result = select({ select: 'smart', tags: ['prod'] }, [untagged, noBakReason, ownReplica, otherJobReplica])
    const reasons = Object.fromEntries(result.excluded.map(({ vm, reason }) => [vm.name_label, reason]))
    expect(reasons).toEqual({
      untagged: 'has none of the tags "prod"',
      'health check': 'tagged "xo:no-bak=Health Check": never backed up',
      'web [replica]': 'replica created by this job (its start is blocked): never backed up by it',
      'db [replica]': 'tagged "Continuous Replication", which the job excludes',
    })
  })

  it('lets exclusion win over inclusion', () => {
    const result = select({ select: 'smart', tags: ['db'], excludeTags: ['prod'] }, [db])
    expect(result.selected).toEqual([])
    expect(result.excluded[0]).toMatchObject({ code: 'excluded-tag', reason: 'tagged "prod", which the job excludes' })
  })

  it('leaves out replicas of other jobs by default, and backs them up when the exclusion list is replaced', () => {
    expect(names(select({ select: 'smart' }, [otherJobReplica]).excluded)).toEqual(['db [replica]'])
    expect(names(select({ select: 'smart', excludeTags: [] }, [otherJobReplica]).selected)).toEqual(['db [replica]'])
  })

  it('selects every VM with no criteria, never templates, snapshots or dom0 (not even listed)', () => {
    const result = select({ select: 'smart', excludeTags: [] }, all)
    expect(names(result.selected)).toEqual(['web', 'db', 'test', 'other', 'untagged', 'db [replica]', 'restored'])
    expect(names(result.excluded)).toEqual(['scratch', 'health check', 'web [replica]'])
  })

  it('filters by pool name or uuid', () => {
    expect(names(select({ select: 'smart', pools: ['lab'] }, [web, other]).selected)).toEqual(['other'])
    expect(names(select({ select: 'smart', pools: [web.poolUuid] }, [web, other]).selected)).toEqual(['web'])
    expect(select({ select: 'smart', pools: ['lab'] }, [web]).excluded[0]).toMatchObject({
      code: 'other-pool',
      reason: 'in pool "prod", not one of the job\'s pools',
    })
  })

  it('filters by power state ("Halted" is not "Suspended")', () => {
    const suspended = vm('suspended', { power_state: 'Suspended' })
    expect(names(select({ select: 'smart', powerState: 'Running' }, [web, db, suspended]).selected)).toEqual(['web'])
    expect(names(select({ select: 'smart', powerState: 'Halted' }, [web, db, suspended]).selected)).toEqual(['db'])
    expect(names(select({ select: 'smart', powerState: 'any' }, [web, db, suspended]).selected)).toEqual([
      'web',
      'db',
      'suspended',
    ])
    expect(select({ select: 'smart', powerState: 'Running' }, [db]).excluded[0]?.reason).toBe(
      'Halted, the job selects Running VMs',
    )
  })

  it('selects nothing when nothing matches', () => {
    expect(select({ select: 'smart', tags: ['nope'] }, all).selected).toEqual([])
  })
})

describe('explicit selection', () => {
  const web = vm('web')
  const db = vm('db', { tags: ['xo:no-bak=migrated'] })
  const twinA = vm('twin')
  const twinB = vm('twin')
  const template = vm('template', { is_a_template: true })
  const snapshot = vm('snap', { is_a_snapshot: true })
  const dom0 = vm('dom0', { is_control_domain: true })
  const replica = vm('replica', { other_config: { 'xo:backup:job': JOB }, blocked_operations: { start: 'x' } })
  const uuidNamed = vm('11111111-2222-4333-8444-555555555555')
  const all = [web, db, twinA, twinB, template, snapshot, dom0, replica, uuidNamed]

  it('selects by uuid or name, once each, in list order', () => {
    const result = select({ select: 'explicit', list: [web.uuid.toUpperCase(), 'web', twinA.uuid] }, all)
    expect(result.selected.map((entry) => entry.uuid)).toEqual([twinA.uuid, web.uuid].sort())
    expect(result.excluded).toEqual([])
    expect(result.unresolved).toEqual([])
  })

  it('leaves out xo:no-bak VMs even when listed (XO documents this, its code does it for smart only)', () => {
    const result = select({ select: 'explicit', list: ['db', 'web'] }, all)
    expect(names(result.selected)).toEqual(['web'])
    expect(result.excluded).toEqual([
      { vm: db, code: 'no-backup-tag', reason: 'tagged "xo:no-bak=migrated": never backed up' },
    ])
  })

  it('reports templates, snapshots, dom0 and own replicas that are listed', () => {
    const result = select({ select: 'explicit', list: ['template', 'snap', 'dom0', 'replica'] }, all)
    expect(result.selected).toEqual([])
    expect(result.excluded.map(({ vm, code }) => [vm.name_label, code])).toEqual([
      ['dom0', 'control-domain'],
      ['replica', 'own-replica'],
      ['snap', 'snapshot'],
      ['template', 'template'],
    ])
  })

  it('reports names that match no VM or several', () => {
    const result = select({ select: 'explicit', list: ['twin', 'ghost', '99999999-2222-4333-8444-555555555555'] }, all)
    expect(result.selected).toEqual([])
    expect(result.unresolved).toEqual([
      {
        ref: '99999999-2222-4333-8444-555555555555',
        code: 'not-found',
        reason: 'no VM has the uuid or name "99999999-2222-4333-8444-555555555555"',
        candidates: [],
      },
      { ref: 'ghost', code: 'not-found', reason: 'no VM has the name "ghost"', candidates: [] },
      {
        ref: 'twin',
        code: 'ambiguous',
        reason: `2 VMs are named "twin" (${twinA.uuid}, ${twinB.uuid}): list one by uuid`,
        candidates: [twinA, twinB],
      },
    ])
  })

  it('falls back to the name when a uuid-looking entry is no uuid', () => {
    expect(select({ select: 'explicit', list: [uuidNamed.name_label] }, all).selected).toEqual([uuidNamed])
  })
})
