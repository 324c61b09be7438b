import { afterEach, describe, expect, it } from 'vitest'
import type { Xapi, XapiRecord } from 'xen-api'
import { connectedClient, eventually, findByName, stopAll } from '../helpers'
import { disksOf, expectSameBytes, exportRaw, GiB, MiB, snapshotVm, startPool } from './helpers'

afterEach(stopAll)

function vdiRecord(name: string, sr: string, size: number, extra: Record<string, unknown> = {}) {
  return {
    name_label: name,
    name_description: 'made by a test',
    SR: sr,
    virtual_size: size,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: { 'xo:test': 'yes' },
    ...extra,
  }
}

const live = (xapi: Xapi, ref: string) => xapi.getObject(ref) as XapiRecord

describe('VDI methods', () => {
  it('create, resize, clone, copy and destroy with the fields and checks XAPI has', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const ext = findByName(xapi, 'SR', 'ext')
    const lvm = findByName(xapi, 'SR', 'lvm')
    const vdi = await xapi.call<string>('VDI.create', vdiRecord('new', ext.$ref, 5 * MiB, { sm_config: { mine: '1' } }))
    await eventually(() => xapi.getObject(vdi, null) !== null, 5000, 'the VDI')
    expect(live(xapi, vdi)).toMatchObject({
      name_label: 'new',
      name_description: 'made by a test',
      virtual_size: 6 * MiB, // rounded up to a VHD block by SM
      managed: true,
      other_config: { 'xo:test': 'yes' },
      sm_config: { mine: '1' },
      allowed_operations: expect.arrayContaining(['snapshot', 'clone', 'destroy', 'resize', 'copy']),
    })
    await expect(
      xapi.call('VDI.create', vdiRecord('x', ext.$ref, MiB, { type: 'cbt_metadata' })),
    ).rejects.toMatchObject({
      code: 'VDI_INCOMPATIBLE_TYPE',
      params: ['', 'cbt_metadata'],
    })
    await expect(xapi.call('VDI.create', vdiRecord('too big', lvm.$ref, 20 * GiB))).rejects.toMatchObject({
      code: 'SR_BACKEND_FAILURE_44',
    })

    await sim.control.writeDisk({ vdi }, MiB, Buffer.from('content'))
    await xapi.call('VDI.resize', vdi, 10 * MiB)
    await eventually(() => live(xapi, vdi).virtual_size === 10 * MiB, 5000, 'the new size')
    await expect(xapi.call('VDI.resize', vdi, 4 * MiB)).rejects.toMatchObject({ code: 'SR_BACKEND_FAILURE_79' })

    const clone = await xapi.callAsync<string>('VDI.clone', vdi)
    await eventually(() => xapi.getObject(clone, null) !== null, 5000, 'the clone')
    expect(live(xapi, clone)).toMatchObject({
      name_label: 'new',
      is_a_snapshot: false,
      other_config: { 'xo:test': 'yes' },
    })
    const copy = await xapi.callAsync<string>('VDI.copy', vdi, lvm.$ref)
    await eventually(() => xapi.getObject(copy, null) !== null, 5000, 'the copy')
    expect(live(xapi, copy)).toMatchObject({ SR: lvm.$ref, name_label: 'new' })
    const expected = await exportRaw(xapi, vdi)
    expectSameBytes(await exportRaw(xapi, clone), expected, 'clone')
    expectSameBytes(await exportRaw(xapi, copy), expected, 'copy')

    // Copy into an existing VDI, relative to a base: only the blocks that changed since.
    const base = await xapi.callAsync<string>('VDI.snapshot', vdi)
    await sim.control.writeDisk({ vdi }, 3 * MiB, Buffer.from('changed since the base'))
    const into = await xapi.callAsync<string>('VDI.copy', base, lvm.$ref)
    await xapi.callAsync('VDI.copy', vdi, 'OpaqueRef:NULL', base, into)
    expectSameBytes(await exportRaw(xapi, into), await exportRaw(xapi, vdi), 'copy into relative to a base')

    const baseCopyUuid = (live(xapi, vdi).sm_config as Record<string, string>)['vhd-parent']!
    const baseCopy = xapi.getObjectByUuid(baseCopyUuid) as XapiRecord
    await expect(xapi.call('VDI.destroy', baseCopy.$ref)).rejects.toMatchObject({
      code: 'VDI_NOT_MANAGED',
      params: [baseCopy.$ref],
    })
    await xapi.call('VDI.destroy', copy)
    expect(sim.core.db.exists('VDI', copy)).toBe(false)
  })

  it('destroy refuses an attached disk (VDI_IN_USE) and takes its VBDs with it once detached', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const [root] = disksOf(xapi, vm.$ref)
    expect(root!.allowed_operations).not.toContain('destroy')
    await expect(xapi.call('VDI.destroy', root!.$ref)).rejects.toMatchObject({
      code: 'VDI_IN_USE',
      params: [root!.$ref, 'destroy'],
    })
    await xapi.callAsync('VM.hard_shutdown', vm.$ref)
    await eventually(
      () => (live(xapi, root!.$ref).allowed_operations as string[]).includes('destroy'),
      5000,
      'destroy allowed',
    )
    const vbd = (root!.$VBDs as XapiRecord[])[0]!.$ref
    await xapi.call('VDI.destroy', root!.$ref)
    expect(sim.core.db.exists('VBD', vbd)).toBe(false)
  })

  it('forget drops only the record; SR.scan introduces the VDI again', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    // A disk of a halted VM: XAPI refuses to forget an attached one (VDI_IN_USE).
    const vdi = findByName(xapi, 'VDI', 'halted 0')
    const vbd = (vdi.$VBDs as XapiRecord[])[0]!.$ref
    await expect(xapi.call('VDI.forget', findByName(xapi, 'VDI', 'vm1 data').$ref)).rejects.toMatchObject({
      code: 'VDI_IN_USE',
    })
    await sim.control.gc('ext', { action: 'freeze' })
    await xapi.call('VDI.forget', vdi.$ref)
    expect(sim.core.db.exists('VDI', vdi.$ref)).toBe(false)
    await xapi.call('SR.scan', findByName(xapi, 'SR', 'ext').$ref)
    await eventually(
      () => {
        const record = xapi.getObjectByUuid(vdi.uuid, null) as XapiRecord | null
        return record !== null && record.$ref !== vdi.$ref
      },
      5000,
      'the VDI under a new ref',
    )
    const again = xapi.getObjectByUuid(vdi.uuid) as XapiRecord
    expect(again.name_label).toBe('')
    expect(sim.core.db.exists('VBD', vbd)).toBe(true)
  })
})

describe('changed block tracking', () => {
  it('tracks writes between snapshots, survives data_destroy, refuses what XAPI refuses', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const [root] = disksOf(xapi, vm.$ref)
    await xapi.callAsync('VDI.enable_cbt', root!.$ref)
    await eventually(() => live(xapi, root!.$ref).cbt_enabled === true, 5000, 'cbt_enabled')
    const [first] = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 'first'))
    expect(first!.cbt_enabled).toBe(true)
    await sim.control.writeDisk({ vdi: root!.$ref }, 5 * 65536 + 10, Buffer.from('x'))
    await sim.control.writeDisk({ vdi: root!.$ref }, 64 * MiB - 1, Buffer.from('y'))
    const secondVm = await snapshotVm(xapi, vm.$ref, 'second')
    const [second] = disksOf(xapi, secondVm)
    const bitmap = Buffer.from(
      await xapi.callAsync<string>('VDI.list_changed_blocks', first!.$ref, second!.$ref),
      'base64',
    )
    expect(bitmap.length).toBe((64 * MiB) / 65536 / 8)
    const changed = [...bitmap].flatMap((byte, i) =>
      [0, 1, 2, 3, 4, 5, 6, 7].filter((b) => byte & (0x80 >> b)).map((b) => i * 8 + b),
    )
    expect(changed).toEqual([5, 1023])
    await expect(xapi.call('VDI.enable_cbt', first!.$ref)).rejects.toMatchObject({
      code: 'OPERATION_NOT_ALLOWED',
      params: [`VDI is a snapshot: ${first!.$ref}`],
    })
    // The running VM's disk is attached: XAPI refuses to list its changes.
    await expect(xapi.callAsync('VDI.list_changed_blocks', second!.$ref, root!.$ref)).rejects.toMatchObject({
      code: 'VDI_IN_USE',
    })

    await xapi.call('VM.destroy', secondVm)
    await xapi.callAsync('VDI.data_destroy', second!.$ref)
    await eventually(() => live(xapi, second!.$ref).type === 'cbt_metadata', 5000, 'cbt_metadata')
    expect(await xapi.callAsync('VDI.list_changed_blocks', first!.$ref, second!.$ref)).toBe(bitmap.toString('base64'))
    await expect(xapi.callAsync('VDI.snapshot', second!.$ref)).rejects.toMatchObject({
      code: 'VDI_INCOMPATIBLE_TYPE',
      params: [second!.$ref, 'cbt_metadata'],
    })
    expect(await xapi.call('VDI.get_nbd_info', root!.$ref)).toEqual([])
  })

  it('data_destroy waits for the VBDs to go, then refuses with VDI_IN_USE', async () => {
    const sim = await startPool({ knobs: { gcQuietPeriodMs: 0, vmSnapshotMs: 0, dataDestroyDetachWaitMs: 200 } })
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const [root] = disksOf(xapi, vm.$ref)
    await xapi.callAsync('VDI.enable_cbt', root!.$ref)
    const [snapshot] = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 's'))
    await expect(xapi.callAsync('VDI.data_destroy', snapshot!.$ref)).rejects.toMatchObject({
      code: 'VDI_IN_USE',
      params: [snapshot!.$ref, 'data_destroy'],
    })
  })
})

describe('switches in other_config reach the GC', () => {
  it('SR other_config gc=false keeps the chain; removing it lets the GC coalesce', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const ext = findByName(xapi, 'SR', 'ext')
    const vm = findByName(xapi, 'VM', 'vm1')
    await xapi.call('SR.add_to_other_config', ext.$ref, 'gc', 'false')
    await sim.control.writeDisk({ vm: vm.$ref }, 0, Buffer.from('a'))
    const snapshot = await snapshotVm(xapi, vm.$ref, 's')
    const [snapshotRoot, snapshotData] = disksOf(xapi, snapshot)
    await xapi.call('VM.destroy', snapshot)
    await xapi.call('VDI.destroy', snapshotRoot!.$ref)
    await xapi.call('VDI.destroy', snapshotData!.$ref)
    await xapi.call('SR.scan', ext.$ref)
    await sim.control.gc('ext', { action: 'whenIdle' })
    const baseCopies = () => sim.core.db.filter('VDI', (vdi) => vdi.SR === ext.$ref && vdi.managed === false).length
    expect(baseCopies()).toBeGreaterThan(0)
    await xapi.call('SR.remove_from_other_config', ext.$ref, 'gc')
    await xapi.call('SR.scan', ext.$ref)
    await sim.control.gc('ext', { action: 'whenIdle' })
    await eventually(() => baseCopies() === 0, 5000, 'the chain coalesced')
  })
})
