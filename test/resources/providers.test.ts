import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { UNKNOWN } from '../../provider/policy/unknown'
import { idForName } from '../../provider/pool/store-ids'
import { type RunningSimulator, startSimulator } from '../../simulator'
import { type DynamicProviderProcess, type Props, poolsConfig, startDynamicProvider } from './harness'
import { keyOf, makeReplica, makeSnapshot, poolOtherConfig, secretValues, vmExists, vmTagsOf } from './pool-objects'

/**
 * The four providers through the real dynamic-provider process, against the simulator: what each RPC
 * writes to the pool, that failures between steps leave the pool as it was, that check and diff are
 * side-effect free, and that nothing secret is logged.
 */

let sim: RunningSimulator
let provider: DynamicProviderProcess
const SMB_PASSWORD = 'smb-pass-Q7x9'
const ROTATED_PASSWORD = 'smb-pass-rotated-K2m4'

beforeAll(async () => {
  sim = await startSimulator({ log: () => undefined })
  provider = await startDynamicProvider()
  await provider.configure(poolsConfig({ main: { url: sim.url, password: sim.password } }))
})

afterAll(async () => {
  await provider?.close()
  await sim?.close()
})

afterEach(async () => {
  await sim.control.clearFaults()
})

/** check, then create with what check returned, as the engine does. */
async function checkAndCreate(kind: Parameters<DynamicProviderProcess['check']>[0], args: Props) {
  const checked = await provider.check(kind, args)
  expect(checked.failures).toEqual([])
  const created = await provider.create(kind, checked.inputs)
  return { inputs: checked.inputs, ...created }
}

describe('the serialized provider', () => {
  it('is a small shim that requires the installed package and captures nothing else', () => {
    for (const text of Object.values(provider.serialized)) {
      expect(text.length).toBeLessThan(8_000)
      expect(text).toContain("require('pulumi-xcp-backup/dist/provider/resources/entry.js')")
      expect(text).not.toContain(sim.password)
      expect(text).not.toMatch(/xen-api|createClient|PoolSessions|password/i)
    }
  })
})

describe('Remote', () => {
  const smb = {
    name: 'nas',
    url: 'smb://backup@nas.lan/xcp',
    credentials: { password: SMB_PASSWORD },
  }
  let remote: { id: string; inputs: Props; outs: Props }

  it('stores the spec in other_config and the credentials only in a XAPI secret', async () => {
    remote = await checkAndCreate('Remote', smb)
    expect(remote.id).toBe(keyOf('Remote', 'nas'))
    const stored = poolOtherConfig(sim)[keyOf('Remote', 'nas')]!
    expect(stored).not.toContain(SMB_PASSWORD)
    const secret = JSON.parse(stored).spec.credentialsSecret as string
    expect(JSON.parse(secretValues(sim).get(secret)!)).toEqual({ password: SMB_PASSWORD })
    expect(remote.outs).toMatchObject({
      name: 'nas',
      type: 'smb',
      credentials: { password: SMB_PASSWORD },
      credentialsSecret: secret,
      poolName: 'main',
    })
  })

  it('reads back the same shape it created, and diff finds no change', async () => {
    const read = await provider.read('Remote', remote.id, remote.outs)
    expect(read).toEqual({ id: remote.id, props: remote.outs })
    expect((await provider.diff('Remote', remote.id, read.props, remote.inputs)).changes).toBe('none')
  })

  it('keeps the old spec and secret when writing the rotated spec fails, and destroys the new secret', async () => {
    const before = { config: poolOtherConfig(sim), secrets: secretValues(sim) }
    // The store's replace is remove ~next, add ~next, remove key, add key, remove ~next: fail at "add key".
    await sim.control.addFault({
      method: 'pool.add_to_other_config',
      nth: 2,
      action: { kind: 'error', code: 'INTERNAL_ERROR', params: ['injected'] },
    })
    const rotated = await provider.check('Remote', { ...smb, credentials: { password: ROTATED_PASSWORD } })
    await expect(provider.update('Remote', remote.id, remote.outs, rotated.inputs)).rejects.toThrow(/INTERNAL_ERROR/)
    expect(poolOtherConfig(sim)).toEqual(before.config)
    expect(secretValues(sim)).toEqual(before.secrets)
  })

  it('rotates credentials: a new secret, the spec pointing at it, then the old secret destroyed', async () => {
    const oldSecret = remote.outs.credentialsSecret as string
    const rotated = await provider.check('Remote', { ...smb, credentials: { password: ROTATED_PASSWORD } })
    expect((await provider.diff('Remote', remote.id, remote.outs, rotated.inputs)).changes).toBe('some')
    const outs = await provider.update('Remote', remote.id, remote.outs, rotated.inputs)
    const newSecret = outs.credentialsSecret as string
    expect(newSecret).not.toBe(oldSecret)
    expect(secretValues(sim).has(oldSecret)).toBe(false)
    expect(JSON.parse(secretValues(sim).get(newSecret)!)).toEqual({ password: ROTATED_PASSWORD })
    expect(JSON.parse(poolOtherConfig(sim)[keyOf('Remote', 'nas')]!).spec.credentialsSecret).toBe(newSecret)
    remote = { ...remote, inputs: rotated.inputs, outs }
  })

  it('leaves nothing behind when the spec cannot be stored', async () => {
    const before = { config: poolOtherConfig(sim), secrets: secretValues(sim) }
    await sim.control.addFault({
      method: 'pool.add_to_other_config',
      times: 'always',
      action: { kind: 'error', code: 'INTERNAL_ERROR', params: ['injected'] },
    })
    const checked = await provider.check('Remote', { ...smb, name: 'other' })
    await expect(provider.create('Remote', checked.inputs)).rejects.toThrow(/INTERNAL_ERROR/)
    expect(poolOtherConfig(sim)).toEqual(before.config)
    expect(secretValues(sim)).toEqual(before.secrets)
  })

  it('refuses, in check, a new remote whose name another object already has in the pool', async () => {
    const { failures } = await provider.check('Remote', { name: 'nas', url: 'file:///srv/backups' })
    expect(failures).toEqual([{ property: 'name', reason: expect.stringMatching(/already exists in pool "main"/) }])
  })

  it('is gone after delete: spec and secret', async () => {
    const secret = remote.outs.credentialsSecret as string
    await provider.delete('Remote', remote.id, remote.outs)
    expect(poolOtherConfig(sim)[keyOf('Remote', 'nas')]).toBeUndefined()
    expect(secretValues(sim).has(secret)).toBe(false)
    expect(await provider.read('Remote', remote.id, remote.outs)).toEqual({ id: '', props: {} })
  })
})

describe('BackupJob', () => {
  const job = {
    name: 'nightly prod',
    mode: 'delta',
    vms: { select: 'smart', tags: ['prod'] },
    remotes: ['local'],
    schedules: [{ name: 'hourly', cron: '0 * * * *', exportRetention: 3 }],
  }
  const status = {
    jobId: idForName('BackupJob', 'nightly prod'),
    lastRun: { runId: 'mbb0000000-00000001', start: 1_763_780_000_000, end: 1_763_787_200_000, status: 'success' },
    consecutiveFailures: 0,
  }
  let created: { id: string; inputs: Props; outs: Props }

  it('names VMs and SRs that do not exist, with the other problems, in one check', async () => {
    const { failures } = await provider.check('BackupJob', {
      ...job,
      vms: { select: 'explicit', list: ['web-01', 'web-O1'] },
      schedules: [{ name: 'hourly', cron: '0 * * * 8', exportRetention: 3 }],
      settings: { healthCheck: { sr: 'Local storag' } },
    })
    expect(failures.map((f) => f.property).sort()).toEqual([
      'schedules[0].cron',
      'settings.healthCheck.sr',
      'vms.list[1]',
    ])
    expect(failures.find((f) => f.property === 'vms.list[1]')?.reason).toMatch(/no VM has the name "web-O1".*"web-01"/)
  })

  it('accepts unknown values during preview without writing anything', async () => {
    const before = poolOtherConfig(sim)
    const { failures, inputs } = await provider.check('BackupJob', {
      ...job,
      remotes: [UNKNOWN],
      schedules: [{ name: 'hourly', cron: UNKNOWN, exportRetention: 3 }],
    })
    expect(failures).toEqual([])
    expect((inputs.schedules as Props[])[0]!.cron).toBe(UNKNOWN)
    expect(poolOtherConfig(sim)).toEqual(before)
  })

  it('warns, during check, when runs come closer together than the last run lasted', async () => {
    sim.core.db.update('pool', sim.core.db.refs('pool')[0]!, {
      other_config: { ...poolOtherConfig(sim), [keyOf('JobStatus', 'nightly prod')]: JSON.stringify(status) },
    })
    await provider.check('BackupJob', job)
    expect(provider.stderr()).toMatch(
      /warning: BackupJob "nightly prod": schedule "hourly" fires as little as 1 hour apart .* the last run took 2 hours.*JOB_ALREADY_RUNNING/,
    )
  })

  it('outputs the VMs it selects, the next runs and the last run the runner recorded', async () => {
    created = await checkAndCreate('BackupJob', job)
    expect(created.id).toBe(keyOf('BackupJob', 'nightly prod'))
    expect((created.outs.selectedVms as { name: string }[]).map((vm) => vm.name).sort()).toEqual([
      'db-01',
      'legacy-app',
      'web-01',
    ])
    const [next] = created.outs.nextRuns as { schedule: string; at: string[] }[]
    expect(next?.schedule).toBe('hourly')
    expect(next?.at).toHaveLength(3)
    expect(Date.parse(next!.at[1]!) - Date.parse(next!.at[0]!)).toBe(3_600_000)
    expect(created.outs.lastRun).toEqual(status.lastRun)
    expect(created.outs.jobId).toBe(idForName('BackupJob', 'nightly prod'))
  })

  it('diff: nothing changed, a schedule edited (update), a rename (replace), a pool renamed (nothing), another pool (delete first)', async () => {
    const diff = (news: Props, olds: Props = created.outs) => provider.diff('BackupJob', created.id, olds, news)
    expect(await diff(created.inputs)).toEqual({ changes: 'none', replaces: [], deleteBeforeReplace: false })
    const edited = (
      await provider.check('BackupJob', { ...job, schedules: [{ ...job.schedules[0], cron: '30 * * * *' }] })
    ).inputs
    expect(await diff(edited)).toEqual({ changes: 'some', replaces: [], deleteBeforeReplace: false })
    const renamed = (await provider.check('BackupJob', { ...job, name: 'renamed' })).inputs
    expect(await diff(renamed)).toEqual({ changes: 'some', replaces: ['name'], deleteBeforeReplace: false })
    // The pool was renamed in the configuration: same uuid, same pool, nothing to do.
    expect(await diff(created.inputs, { ...created.outs, poolName: 'old-name' })).toMatchObject({ changes: 'none' })
    // The object is in another pool than the one the program now names.
    const elsewhere = { ...created.outs, poolName: 'old-name', poolUuid: '00000000-0000-4000-8000-000000000000' }
    expect(await diff(created.inputs, elsewhere)).toEqual({
      changes: 'some',
      replaces: ['pool'],
      deleteBeforeReplace: true,
    })
  })

  it('restores the previous spec when the new one cannot be written', async () => {
    const before = poolOtherConfig(sim)
    await sim.control.addFault({
      method: 'pool.add_to_other_config',
      nth: 2,
      action: { kind: 'error', code: 'INTERNAL_ERROR', params: ['injected'] },
    })
    const edited = (
      await provider.check('BackupJob', { ...job, schedules: [{ ...job.schedules[0], exportRetention: 9 }] })
    ).inputs
    await expect(provider.update('BackupJob', created.id, created.outs, edited)).rejects.toThrow(/INTERNAL_ERROR/)
    expect(poolOtherConfig(sim)).toEqual(before)
  })

  it('reads a spec edited by hand as it is now, so the diff shows the drift', async () => {
    const key = keyOf('BackupJob', 'nightly prod')
    const envelope = JSON.parse(poolOtherConfig(sim)[key]!)
    envelope.spec.schedules[0].exportRetention = 1
    sim.core.db.update('pool', sim.core.db.refs('pool')[0]!, {
      other_config: { ...poolOtherConfig(sim), [key]: JSON.stringify(envelope) },
    })
    const read = await provider.read('BackupJob', created.id, created.outs)
    expect((read.props.schedules as Props[])[0]!.exportRetention).toBe(1)
    expect((await provider.diff('BackupJob', created.id, read.props, created.inputs)).changes).toBe('some')
    const outs = await provider.update('BackupJob', created.id, read.props, created.inputs)
    expect((outs.schedules as Props[])[0]!.exportRetention).toBe(3)
  })

  it('rewrites a spec that is unreadable, and refuses to touch one written by a newer version', async () => {
    const key = keyOf('BackupJob', 'nightly prod')
    const setValue = (value: string) =>
      sim.core.db.update('pool', sim.core.db.refs('pool')[0]!, {
        other_config: { ...poolOtherConfig(sim), [key]: value },
      })
    const good = poolOtherConfig(sim)[key]!
    setValue('{"kind":"BackupJob","version":1,"spec":{"name":')
    const read = await provider.read('BackupJob', created.id, created.outs)
    expect(read.props.schedules).toBeUndefined()
    expect(provider.stderr()).toMatch(
      /warning: BackupJob "nightly prod": stored spec is not JSON .*pulumi up will write it again/,
    )
    expect((await provider.diff('BackupJob', created.id, read.props, created.inputs)).changes).toBe('some')
    await provider.update('BackupJob', created.id, read.props, created.inputs)
    expect(poolOtherConfig(sim)[key]).toBe(good)

    const newer = JSON.stringify({ ...JSON.parse(good), version: 2 })
    setValue(newer)
    await expect(provider.read('BackupJob', created.id, created.outs)).rejects.toThrow(
      /written by a newer xcp-backup \(v2\); this one reads up to v1: upgrade xcp-backup/,
    )
    await expect(provider.update('BackupJob', created.id, created.outs, created.inputs)).rejects.toThrow(/newer/)
    expect(poolOtherConfig(sim)[key]).toBe(newer)
    setValue(good)
  })

  it('delete removes the spec and the status record, and nothing else', async () => {
    const before = poolOtherConfig(sim)
    await provider.delete('BackupJob', created.id, created.outs)
    const after = poolOtherConfig(sim)
    expect(
      Object.keys(before)
        .filter((key) => !(key in after))
        .sort(),
    ).toEqual([keyOf('BackupJob', 'nightly prod'), keyOf('JobStatus', 'nightly prod')].sort())
  })
})

describe('VmBackupTags', () => {
  it('adds and removes only the tags it manages; resources on one VM coexist', async () => {
    expect(vmTagsOf(sim, 'web-01')).toEqual(['prod'])
    const a = await checkAndCreate('VmBackupTags', { vms: ['web-01'], tags: ['xo-memory-backup', 'shared'] })
    const b = await checkAndCreate('VmBackupTags', { vms: ['web-01', 'staging-01'], tags: ['shared', 'nightly'] })
    expect(vmTagsOf(sim, 'web-01').sort()).toEqual(['nightly', 'prod', 'shared', 'xo-memory-backup'])
    expect(vmTagsOf(sim, 'staging-01').sort()).toEqual(['nightly', 'shared', 'staging'])
    // A tag set by someone else meanwhile is never touched.
    await provider.delete('VmBackupTags', a.id, a.outs)
    sim.core.db.update('VM', sim.core.db.filter('VM', (vm) => vm.name_label === 'web-01')[0]!, {
      tags: [...vmTagsOf(sim, 'web-01'), 'set-by-hand'],
    })
    expect(vmTagsOf(sim, 'web-01').sort()).toEqual(['nightly', 'prod', 'set-by-hand', 'shared'])
    await provider.delete('VmBackupTags', b.id, b.outs)
    expect(vmTagsOf(sim, 'web-01').sort()).toEqual(['prod', 'set-by-hand'])
    expect(vmTagsOf(sim, 'staging-01')).toEqual(['staging'])
    expect(Object.keys(poolOtherConfig(sim)).filter((key) => key.startsWith('xcp-backup:vm-backup-tags:'))).toEqual([])
  })

  it('undoes the tags it added and its claim when tagging fails half-way', async () => {
    const before = { web: vmTagsOf(sim, 'web-01'), legacy: vmTagsOf(sim, 'legacy-app'), config: poolOtherConfig(sim) }
    await sim.control.addFault({
      method: 'VM.add_tags',
      nth: 3,
      action: { kind: 'error', code: 'INTERNAL_ERROR', params: ['injected'] },
    })
    const checked = await provider.check('VmBackupTags', { vms: ['web-01', 'legacy-app'], tags: ['a', 'b'] })
    await expect(provider.create('VmBackupTags', checked.inputs)).rejects.toThrow(/INTERNAL_ERROR/)
    expect(vmTagsOf(sim, 'web-01')).toEqual(before.web)
    expect(vmTagsOf(sim, 'legacy-app')).toEqual(before.legacy)
    expect(poolOtherConfig(sim)).toEqual(before.config)
  })

  it('shows a managed tag removed by hand as drift, and update puts it back', async () => {
    const tags = await checkAndCreate('VmBackupTags', { vms: ['db-01', 'legacy-app'], tags: ['xo-offline-backup'] })
    sim.core.db.update('VM', sim.core.db.filter('VM', (vm) => vm.name_label === 'legacy-app')[0]!, { tags: ['prod'] })
    const read = await provider.read('VmBackupTags', tags.id, tags.outs)
    expect(read.props.tags).toEqual([])
    expect(read.props.vms).toEqual(['db-01', 'legacy-app'])
    expect((await provider.diff('VmBackupTags', tags.id, read.props, tags.inputs)).changes).toBe('some')
    const outs = await provider.update('VmBackupTags', tags.id, read.props, tags.inputs)
    expect(outs).toEqual(tags.outs)
    expect(vmTagsOf(sim, 'legacy-app').sort()).toEqual(['prod', 'xo-offline-backup'])
    await provider.delete('VmBackupTags', tags.id, outs)
  })

  it('puts back the tags it removed and keeps its claim when a delete fails half-way', async () => {
    const tags = await checkAndCreate('VmBackupTags', { vms: ['web-01', 'staging-01'], tags: ['weekly'] })
    const before = { web: vmTagsOf(sim, 'web-01'), staging: vmTagsOf(sim, 'staging-01'), config: poolOtherConfig(sim) }
    await sim.control.addFault({
      method: 'VM.remove_tags',
      nth: 2,
      action: { kind: 'error', code: 'INTERNAL_ERROR', params: ['injected'] },
    })
    await expect(provider.delete('VmBackupTags', tags.id, tags.outs)).rejects.toThrow(/INTERNAL_ERROR/)
    expect(vmTagsOf(sim, 'web-01')).toEqual(before.web)
    expect(vmTagsOf(sim, 'staging-01')).toEqual(before.staging)
    expect(poolOtherConfig(sim)).toEqual(before.config)
    await provider.delete('VmBackupTags', tags.id, tags.outs)
    expect(vmTagsOf(sim, 'web-01')).not.toContain('weekly')
  })

  it('names the VMs that do not exist', async () => {
    const { failures } = await provider.check('VmBackupTags', { vms: ['web-01', 'nope'], tags: ['x'] })
    expect(failures).toEqual([{ property: 'vms[1]', reason: 'no VM of pool "main" (Demo pool) has the name "nope"' }])
  })
})

describe('ReplicationTarget', () => {
  it('reports orphaned replication snapshots and destroys, on update, only those it showed', async () => {
    const srUuid = (name: string) =>
      String(sim.core.db.get('SR', sim.core.db.filter('SR', (sr) => sr.name_label === name)[0]!).uuid)
    const local = srUuid('Local storage')
    const lvm = srUuid('LVM storage')
    const legacy = await makeSnapshot(sim, 'web-01', { name: `XO_DELTA_EXPORT: Local storage (${local})` })
    const marked = await makeSnapshot(sim, 'legacy-app', { name: 'CR base', otherConfig: { 'xo:backup:sr': local } })
    const chained = await makeSnapshot(sim, 'db-01', { name: `XO_DELTA_EXPORT: LVM storage (${lvm})` })
    await makeReplica(sim, { name: 'db-01 replica', sr: 'LVM storage', copyOf: chained.uuid })
    const missing = await makeSnapshot(sim, 'staging-01', {
      name: 'XO_DELTA_EXPORT: Old SR (0c8a4b1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b)',
    })
    const replicaSnapshot = await makeSnapshot(sim, 'db-01 replica', {
      name: 'db-01 - CR / nightly',
      otherConfig: { 'xo:backup:sr': local, 'xo:copy_of': chained.uuid },
    })

    const target = await checkAndCreate('ReplicationTarget', { name: 'dr', sr: 'Local storage' })
    expect(target.inputs.orphanedSnapshots).toEqual([])
    expect(target.outs).toMatchObject({ srUuid: local, srType: 'ext', srName: 'Local storage' })
    expect(target.outs.srFreeSpace).toBeGreaterThan(0)
    const orphans = target.outs.orphanedSnapshots as { uuid: string; reason: string; vm: string }[]
    expect(orphans.map((o) => o.uuid).sort()).toEqual([legacy.uuid, marked.uuid].sort())
    expect(orphans.every((o) => o.reason === 'no-replica')).toBe(true)
    expect((target.outs.orphansOfMissingSrs as { uuid: string }[]).map((o) => o.uuid)).toEqual([missing.uuid])
    expect(provider.stderr()).toContain(`points at SR 0c8a4b1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b, which does not exist`)

    const read = await provider.read('ReplicationTarget', target.id, target.outs)
    expect(read.props).toEqual(target.outs)
    expect((await provider.diff('ReplicationTarget', target.id, read.props, target.inputs)).changes).toBe('some')

    // Orphaned after the refresh the update works from: not shown, so not destroyed.
    const late = await makeSnapshot(sim, 'web-01', { name: `XO_DELTA_EXPORT: Local storage (${local})` })
    const outs = await provider.update('ReplicationTarget', target.id, read.props, target.inputs)
    expect(vmExists(sim, legacy.uuid)).toBe(false)
    expect(vmExists(sim, marked.uuid)).toBe(false)
    // The snapshots' own disks went with them: nothing is left for the GC to find as orphans.
    for (const disk of [...legacy.vdiUuids, ...marked.vdiUuids]) expect(vmExists(sim, disk)).toBe(false)
    expect(legacy.vdiUuids.length).toBeGreaterThan(0)
    for (const kept of [late, chained, missing, replicaSnapshot]) expect(vmExists(sim, kept.uuid)).toBe(true)
    for (const vm of ['web-01', 'legacy-app', 'db-01', 'staging-01']) expect(vmTagsOf(sim, vm)).toBeDefined()
    expect((outs.orphanedSnapshots as { uuid: string }[]).map((o) => o.uuid)).toEqual([late.uuid])
    expect(provider.stderr()).toMatch(
      /info: ReplicationTarget "dr": destroyed replication snapshot "XO_DELTA_EXPORT: Local storage/,
    )

    await provider.delete('ReplicationTarget', target.id, outs)
    expect(poolOtherConfig(sim)[keyOf('ReplicationTarget', 'dr')]).toBeUndefined()
    expect(vmExists(sim, late.uuid)).toBe(true)
  })

  it('names an SR that does not exist, or an ISO library', async () => {
    expect((await provider.check('ReplicationTarget', { name: 'x', sr: 'Nope' })).failures).toEqual([
      { property: 'sr', reason: 'no SR of pool "main" (Demo pool) has the name "Nope"' },
    ])
    expect((await provider.check('ReplicationTarget', { name: 'x', sr: 'ISO library' })).failures).toEqual([
      { property: 'sr', reason: 'SR "ISO library" is an ISO library: name an SR that holds VM disks' },
    ])
  })
})

describe('preview', () => {
  it('reads the pool but never writes to it: check and diff of every type', async () => {
    const resources = [
      await checkAndCreate('Remote', {
        name: 'preview-nas',
        url: 'smb://b@nas/x',
        credentials: { password: SMB_PASSWORD },
      }),
      await checkAndCreate('BackupJob', {
        name: 'preview job',
        mode: 'full',
        vms: { select: 'explicit', list: ['web-01'] },
        schedules: [{ name: 's', cron: '@daily', snapshotRetention: 2 }],
      }),
      await checkAndCreate('ReplicationTarget', { name: 'preview-dr', sr: 'LVM storage' }),
      await checkAndCreate('VmBackupTags', { vms: ['db-01'], tags: ['preview'] }),
    ]
    const kinds = ['Remote', 'BackupJob', 'ReplicationTarget', 'VmBackupTags'] as const
    await sim.control.resetOperationStats()
    for (const [index, kind] of kinds.entries()) {
      const resource = resources[index]!
      const { inputs } = await provider.check(kind, resource.inputs, resource.inputs)
      await provider.diff(kind, resource.id, resource.outs, inputs)
      await provider.diff(kind, resource.id, resource.outs, { ...inputs, name: UNKNOWN })
    }
    const called = Object.keys(await sim.control.operationStats())
    expect(called).toContain('VM.get_all_records')
    expect(called.filter((method) => !/\.(get_|login_with_password$|logout$)|^system\./.test(method))).toEqual([])
    for (const [index, kind] of kinds.entries())
      await provider.delete(kind, resources[index]!.id, resources[index]!.outs)
  })

  it('plans a replace when an identifying field is unknown', async () => {
    const outs = { name: 'x', url: 'file:///srv', options: {}, enabled: true, poolName: 'main' }
    expect(await provider.diff('Remote', 'id', outs, { ...outs, name: UNKNOWN })).toEqual({
      changes: 'some',
      replaces: ['name'],
      deleteBeforeReplace: false,
    })
  })
})

describe('provider configuration', () => {
  it('makes a check fail naming the config key when a pool has no password', async () => {
    const bad = await startDynamicProvider()
    try {
      await bad.configure({ 'xcp-backup:pools': JSON.stringify({ main: { url: sim.url, user: 'root' } }) })
      const { failures } = await bad.check('Remote', { name: 'r', url: 'file:///srv' })
      expect(failures).toEqual([
        {
          property: 'pool',
          reason:
            "provider configuration: xcp-backup:pools.main.password: is required: pulumi config set --secret --path 'xcp-backup:pools.main.password' <password>",
        },
      ])
    } finally {
      await bad.close()
    }
  })

  it('names the configured pools when a resource asks for another', async () => {
    const { failures } = await provider.check('Remote', { name: 'r', url: 'file:///srv', pool: 'mian' })
    expect(failures).toEqual([
      {
        property: 'pool',
        reason: 'no pool "mian" is configured (did you mean "main"?): configured pools are "main" (stack config)',
      },
    ])
  })
})

describe('what the provider process printed', () => {
  it('holds no password: neither the pool password nor any remote credential', () => {
    const printed = provider.stderr()
    expect(printed).toContain('warning:')
    for (const secret of [sim.password, SMB_PASSWORD, ROTATED_PASSWORD]) expect(printed).not.toContain(secret)
  })
})
