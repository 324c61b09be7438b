import { afterEach, describe, expect, it } from 'vitest'
import type { XapiRecord } from 'xen-api'
import { SimulatorControlClient } from '../../../simulator'
import { connectClient, connectedClient, eventually, findByName, stopAll } from '../helpers'
import { bodyOf, disksOf, expectSameBytes, exportRaw, MiB, sha256, snapshotVm, startPool } from './helpers'

afterEach(stopAll)

const record = (xapi: { getObject(ref: string): XapiRecord }, ref: string) => xapi.getObject(ref)

describe('VM.snapshot', () => {
  it('makes a halted template snapshot of the VM with snapshots of its disks, both ends linked', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    await xapi.call('VM.add_to_blocked_operations', vm.$ref, 'migrate_send', 'backup')
    await sim.control.writePattern({ vm: vm.$ref }, { seed: 9, offset: 0, length: 3 * MiB })
    const sourceDisks = disksOf(xapi, vm.$ref)
    const started = Date.now()
    const snap = await snapshotVm(xapi, vm.$ref, 'nightly')
    const snapshot = record(xapi, snap)
    expect(snapshot).toMatchObject({
      name_label: 'nightly',
      is_a_snapshot: true,
      is_a_template: true,
      snapshot_of: vm.$ref,
      power_state: 'Halted',
      tags: ['prod'],
      blocked_operations: {},
      snapshot_info: { 'disk-snapshot-type': 'crash_consistent', 'power-state-at-snapshot': 'Running' },
      current_operations: {},
    })
    expect((snapshot.other_config as Record<string, string>).owner).toBe('tests')
    expect((snapshot.other_config as Record<string, string>).mac_seed).toBe(
      (record(xapi, vm.$ref).other_config as Record<string, string>).mac_seed,
    )
    expect(
      Date.parse(String(snapshot.snapshot_time).replace(/^(\d{4})(\d\d)(\d\d)T/, '$1-$2-$3T')),
    ).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000)
    await eventually(() => (record(xapi, vm.$ref).snapshots as string[]).includes(snap), 5000, 'VM.snapshots')
    expect(record(xapi, vm.$ref).parent).toBe(snap)
    expect(snapshot.children).toEqual([vm.$ref])

    const disks = disksOf(xapi, snap)
    expect(disks).toHaveLength(2)
    for (const [i, disk] of disks.entries()) {
      expect(disk).toMatchObject({
        is_a_snapshot: true,
        snapshot_of: sourceDisks[i]!.$ref,
        name_label: sourceDisks[i]!.name_label,
        managed: true,
        read_only: false,
      })
      const source = sourceDisks[i]!.$ref
      await eventually(() => (record(xapi, source).snapshots as string[]).includes(disk.$ref), 5000, 'VDI.snapshots')
      expectSameBytes(await exportRaw(xapi, disk.$ref), await exportRaw(xapi, sourceDisks[i]!.$ref), `disk ${i}`)
    }
    // The written disk's old leaf became a hidden base copy both leaves hang off.
    const root = disks[0]!
    const parent = (root.sm_config as Record<string, string>)['vhd-parent']!
    const baseCopy = xapi.getObjectByUuid(parent) as XapiRecord
    expect(baseCopy).toMatchObject({ name_label: 'base copy', managed: false, read_only: true, is_a_snapshot: false })
    expect(
      ((xapi.getObject(sourceDisks[0]!.$ref) as XapiRecord).sm_config as Record<string, string>)['vhd-parent'],
    ).toBe(parent)

    const snapshotVbds = snapshot.$VBDs as XapiRecord[]
    expect(
      snapshotVbds
        .filter((vbd) => vbd.type === 'Disk')
        .every((vbd) => (vbd.other_config as Record<string, string>).owner === ''),
    ).toBe(true)
    const cd = snapshotVbds.find((vbd) => vbd.type === 'CD')!
    expect((cd.$VDI as XapiRecord).name_label).toBe('tools.iso')
    expect(snapshotVbds.every((vbd) => vbd.currently_attached === false)).toBe(true)
    const macs = (vmRef: string) => (record(xapi, vmRef).$VIFs as XapiRecord[]).map((vif) => vif.MAC)
    expect(macs(snap)).toEqual(macs(vm.$ref))

    // Destroying the snapshot VM leaves its disks; XO destroys them itself.
    await xapi.call('VM.destroy', snap)
    for (const disk of disks) expect(sim.core.db.exists('VDI', disk.$ref)).toBe(true)
  })

  it('takes 2 or 3 arguments and leaves out the disks in ignore_vdis', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const [, data] = disksOf(xapi, vm.$ref)
    const two = await snapshotVm(xapi, vm.$ref, 'two args')
    expect(disksOf(xapi, two)).toHaveLength(2)
    const ref = await xapi.callAsync<string>('VM.snapshot', vm.$ref, 'three args', [data!.$ref])
    await eventually(() => xapi.getObject(ref, null) !== null, 5000, 'the snapshot')
    const vbds = sim.core.db.get('VM', ref).VBDs as string[]
    expect(vbds.map((vbd) => sim.core.db.get('VBD', vbd).type).sort()).toEqual(['CD', 'Disk'])
  })

  it('holds the snapshot operation while it runs, takes the configured time, and counts concurrent snapshots per pool', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const remote = new SimulatorControlClient(sim.url, { password: sim.password })
    await remote.setKnobs({ vmSnapshotMs: 300, vmSnapshotPerDiskMs: 0 })
    expect((await remote.knobs()).vmSnapshotMs).toBe(300)
    const vm = findByName(xapi, 'VM', 'vm1')
    const halted = findByName(xapi, 'VM', 'halted')
    const task = await xapi.call<string>('Async.VM.snapshot', vm.$ref, 'slow')
    await eventually(
      () => Object.values(sim.core.db.get('VM', vm.$ref).current_operations as object).includes('snapshot'),
      5000,
      'the snapshot operation',
    )
    expect(sim.core.db.get('VM', vm.$ref).current_operations).toEqual({ [task]: 'snapshot' })
    await xapi.watchTask(task)
    await remote.resetOperationStats()
    const results = await Promise.all([
      xapi.callAsync('VM.snapshot', vm.$ref, 'a'),
      xapi.callAsync('VM.snapshot', vm.$ref, 'b'),
      xapi.callAsync('VM.checkpoint', vm.$ref, 'c'),
      xapi.callAsync('VM.snapshot', halted.$ref, 'd'),
    ])
    expect(results).toHaveLength(4)
    expect(await remote.snapshotStats()).toEqual({ calls: 4, inFlight: 0, peak: 4 })
    expect((await remote.operationStats())['VM.snapshot']).toMatchObject({ calls: 3, peak: 3 })
  })

  it('fails all or nothing: a disk that cannot be snapshotted leaves no snapshot behind', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const [, data] = disksOf(xapi, vm.$ref)
    // The data disk one level deeper than the root disk, and a chain limit between them.
    await sim.control.writeDisk({ vdi: data!.$ref }, 0, Buffer.from('data'))
    await xapi.callAsync('VDI.snapshot', data!.$ref)
    await sim.control.setKnobs({ maxChainDepth: 2 })
    const managed = () => sim.core.db.filter('VDI', (vdi) => vdi.managed === true).length
    const [vdis, vms] = [managed(), sim.core.db.count('VM')]
    await expect(xapi.callAsync('VM.snapshot', vm.$ref, 'x')).rejects.toMatchObject({
      code: 'SR_BACKEND_FAILURE_109',
      params: ['', 'The snapshot chain is too long', ''],
    })
    expect(sim.core.db.count('VM')).toBe(vms)
    expect(managed()).toBe(vdis)
  })

  it('can be made a normal VM again, unless a licence fault is scripted (LICENSE_RESTRICTION)', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const snap = await snapshotVm(xapi, vm.$ref, 's')
    await sim.control.addFault({
      method: 'VM.set_is_a_template',
      objectRef: snap,
      action: { kind: 'error', code: 'LICENSE_RESTRICTION', params: ['snapshot_template'] },
    })
    await expect(xapi.call('VM.set_is_a_template', snap, false)).rejects.toMatchObject({ code: 'LICENSE_RESTRICTION' })
    await xapi.call('VM.set_is_a_template', snap, false)
    expect(sim.core.db.get('VM', snap)).toMatchObject({ is_a_template: false, is_a_snapshot: true })
  })
})

describe('VM.checkpoint', () => {
  it('makes a suspended snapshot with a snapshot of the memory image, and the VM keeps running', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const snap = await snapshotVm(xapi, vm.$ref, 'with memory', 'VM.checkpoint')
    const checkpoint = record(xapi, snap)
    expect(checkpoint).toMatchObject({ power_state: 'Suspended', is_a_snapshot: true, is_a_template: true })
    expect(checkpoint.snapshot_info).toEqual({
      'disk-snapshot-type': 'crash_consistent',
      'power-state-at-snapshot': 'Running',
    })
    await eventually(() => record(xapi, snap).$suspend_VDI !== undefined, 5000, 'the suspend VDI')
    const image = record(xapi, snap).$suspend_VDI as XapiRecord
    expect(image).toMatchObject({ type: 'suspend', is_a_snapshot: true })
    // 64 MiB of memory, sized like XAPI's (× 1.2 × 1.05 + 100 MiB), the memory part holding data.
    expect(Number(image.virtual_size)).toBe(
      Math.ceil((Math.floor(64 * MiB * 1.2 * 1.05) + 100 * MiB) / (2 * MiB)) * 2 * MiB,
    )
    const memory = (await exportRaw(xapi, image.$ref)).subarray(0, 64 * MiB)
    expect(memory.subarray(0, 4096).some((byte) => byte !== 0)).toBe(true)
    expect(memory.subarray(64 * MiB - 4096).some((byte) => byte !== 0)).toBe(true)
    expect(
      (checkpoint.$VBDs as XapiRecord[]).filter((vbd) => vbd.type === 'Disk').every((vbd) => vbd.currently_attached),
    ).toBe(true)
    await eventually(() => record(xapi, vm.$ref).power_state === 'Running', 5000, 'the VM running again')
    expect(sim.core.db.get('VM', vm.$ref).suspend_VDI).toBe('OpaqueRef:NULL')
  })

  it('refuses a halted VM with VM_BAD_POWER_STATE, whose third parameter XO reads', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const halted = findByName(xapi, 'VM', 'halted')
    await expect(xapi.callAsync('VM.checkpoint', halted.$ref, 'x')).rejects.toMatchObject({
      code: 'VM_BAD_POWER_STATE',
      params: [halted.$ref, 'paused, suspended, running', 'halted'],
    })
  })
})

describe('VM.clone and VM.copy', () => {
  it('clone: new VM on clones of the disks, new MACs; a clone of a snapshot is a template', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const halted = findByName(xapi, 'VM', 'halted')
    const clone = await xapi.callAsync<string>('VM.clone', halted.$ref, 'clone')
    await eventually(
      () => xapi.getObject(clone, null) !== null && disksOf(xapi, clone).every(Boolean),
      5000,
      'the clone',
    )
    expect(record(xapi, clone)).toMatchObject({
      is_a_snapshot: false,
      is_a_template: false,
      power_state: 'Halted',
      parent: 'OpaqueRef:NULL',
    })
    const [source] = disksOf(xapi, halted.$ref)
    const [copy] = disksOf(xapi, clone)
    expect(copy!.is_a_snapshot).toBe(false)
    expect(sha256(await exportRaw(xapi, copy!.$ref))).toBe(sha256(await exportRaw(xapi, source!.$ref)))
    expect((record(xapi, clone).$VIFs as XapiRecord[])[0]!.MAC).not.toBe((halted.$VIFs as XapiRecord[])[0]!.MAC)

    const vm = findByName(xapi, 'VM', 'vm1')
    const snap = await snapshotVm(xapi, vm.$ref, 's')
    const fromSnapshot = await xapi.callAsync<string>('VM.clone', snap, 'from snapshot')
    expect(sim.core.db.get('VM', fromSnapshot)).toMatchObject({ is_a_template: true, is_a_snapshot: false })
  })

  it('copy: full copies on the SR asked for, independent of the source', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const halted = findByName(xapi, 'VM', 'halted')
    const lvm = findByName(xapi, 'SR', 'lvm')
    const copy = await xapi.callAsync<string>('VM.copy', halted.$ref, 'copy', lvm.$ref)
    await eventually(() => xapi.getObject(copy, null) !== null && disksOf(xapi, copy).every(Boolean), 5000, 'the copy')
    const [disk] = disksOf(xapi, copy)
    expect(disk!.SR).toBe(lvm.$ref)
    expect((disk!.sm_config as Record<string, string>)['vhd-parent']).toBeUndefined()
    const [source] = disksOf(xapi, halted.$ref)
    const before = await exportRaw(xapi, source!.$ref)
    expectSameBytes(await exportRaw(xapi, disk!.$ref), before, 'copy')
    await sim.control.writeDisk({ vdi: disk!.$ref }, 0, Buffer.from('changed'))
    expectSameBytes(await exportRaw(xapi, source!.$ref), before, 'source after writing the copy')
  })
})

describe('VM.suspend and VM.resume', () => {
  it('suspends to a memory image and resumes, detaching and attaching the disks', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const [root] = disksOf(xapi, vm.$ref)
    await expect(xapi.call('VDI.destroy', root!.$ref)).rejects.toMatchObject({
      code: 'VDI_IN_USE',
      params: [root!.$ref, 'destroy'],
    })
    await xapi.callAsync('VM.suspend', vm.$ref)
    const suspended = sim.core.db.get('VM', vm.$ref)
    expect(suspended.power_state).toBe('Suspended')
    expect(sim.core.db.get('VDI', String(suspended.suspend_VDI)).type).toBe('suspend')
    expect(sim.storage.srOfVdi(String(root!.uuid)).holders(String(root!.uuid))).toEqual([])
    await xapi.callAsync('VM.resume', vm.$ref, false, false)
    expect(sim.core.db.get('VM', vm.$ref)).toMatchObject({ power_state: 'Running', suspend_VDI: 'OpaqueRef:NULL' })
    expect(sim.core.db.exists('VDI', String(suspended.suspend_VDI))).toBe(false)
    expect(sim.storage.srOfVdi(String(root!.uuid)).holders(String(root!.uuid))).toHaveLength(1)
  })
})

describe('over XML-RPC', () => {
  it('snapshots a VM and exports a disk with the client in XML-RPC mode', async () => {
    const sim = await startPool()
    const xapi = connectClient(sim, { transport: 'xml-rpc' })
    await xapi.connect()
    await xapi.objectsFetched
    const vm = findByName(xapi, 'VM', 'vm1')
    const snap = await snapshotVm(xapi, vm.$ref, 'xml')
    const [disk] = disksOf(xapi, snap)
    expect(disk!.virtual_size).toBe(String(64 * MiB))
    const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi: disk!.$ref, format: 'raw' } })
    expect((await bodyOf(response)).length).toBe(64 * MiB)
    await response.task
  })
})
