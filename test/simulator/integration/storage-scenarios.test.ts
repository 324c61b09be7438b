import { afterEach, describe, expect, it } from 'vitest'
import type { Xapi, XapiRecord } from 'xen-api'
import { fixtureSchema } from '../../../simulator'
import { health, sizes } from '../../../simulator/storage'
import { cached, connectedClient, eventually, findByName, stopAll } from '../helpers'
import { disksOf, GiB, snapshotVm, startPool } from './helpers'

afterEach(stopAll)

/** `vhd_chain_depth` as the records show it: the VDI and its `vhd-parent`s. */
function chainDepth(xapi: Xapi, vdi: XapiRecord): number {
  let depth = 0
  for (let current: XapiRecord | undefined = vdi; current !== undefined; depth++) {
    const parent: string | undefined = (current.sm_config as Record<string, string>)['vhd-parent']
    current = parent === undefined ? undefined : (xapi.getObjectByUuid(parent, undefined) as XapiRecord | undefined)
  }
  return depth
}

/** What XO's backup guard reads: every VDI record the client has. */
function chainFacts(xapi: Xapi): health.VdiChainFacts[] {
  return cached(xapi, 'VDI').map((vdi) =>
    health.chainFactsOf({
      uuid: vdi.uuid,
      sr: String(vdi.SR),
      managed: vdi.managed === true,
      sm_config: vdi.sm_config as Record<string, string>,
      isASnapshot: vdi.is_a_snapshot === true,
    }),
  )
}

/** The live record of a disk of a VM (records are replaced when they change). */
function disk(xapi: Xapi, vm: string): XapiRecord {
  return disksOf(xapi, vm)[0]!
}

describe('the scenarios of storage-semantics §8.6, through XAPI', () => {
  it('29 snapshots with writes between them succeed, the 30th fails with SR_BACKEND_FAILURE_109; without writes the chain does not grow', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    await sim.control.gc('ext', { action: 'freeze' })
    const vm = findByName(xapi, 'VM', 'halted')
    for (let i = 1; i <= 29; i++) {
      await sim.control.writeDisk({ vm: vm.$ref }, i * 4096, Buffer.from([i]))
      await snapshotVm(xapi, vm.$ref, `snapshot ${i}`)
    }
    await eventually(() => chainDepth(xapi, disk(xapi, vm.$ref)) === 30, 5000, 'a chain of 30 VHDs')
    await sim.control.writeDisk({ vm: vm.$ref }, 0, Buffer.from([30]))
    await expect(xapi.callAsync('VM.snapshot', vm.$ref, 'one too many')).rejects.toMatchObject({
      code: 'SR_BACKEND_FAILURE_109',
      params: ['', 'The snapshot chain is too long', ''],
    })

    const other = findByName(xapi, 'VM', 'vm1')
    const first = await snapshotVm(xapi, other.$ref, 'first')
    await eventually(() => disksOf(xapi, first).length === 2, 5000, 'the first snapshot')
    const depth = chainDepth(xapi, disk(xapi, other.$ref))
    for (let i = 0; i < 3; i++) await snapshotVm(xapi, other.$ref, `no write ${i}`)
    expect(chainDepth(xapi, disk(xapi, other.$ref))).toBe(depth)
  })

  it('a snapshot needing more than the free space of a thick LVM SR fails with SR_BACKEND_FAILURE_44; on EXT it costs two empty VHDs', async () => {
    const fixture = fixtureSchema.parse({
      pool: { name: 'Full' },
      hosts: [{ name: 'h1' }],
      srs: [
        { name: 'lvm', type: 'lvm', size: '100GiB', host: 'h1' },
        { name: 'ext', type: 'ext', size: '100GiB', host: 'h1' },
      ],
      vms: [
        { name: 'on-lvm', powerState: 'Running', disks: [{ size: '60GiB', sr: 'lvm', used: '100%' }] },
        { name: 'on-ext', powerState: 'Running', disks: [{ size: '60GiB', sr: 'ext', used: '100%' }] },
      ],
    })
    const sim = await startPool({ fixture })
    const xapi = await connectedClient(sim)
    const onLvm = findByName(xapi, 'VM', 'on-lvm')
    const lvm = findByName(xapi, 'SR', 'lvm')
    const usedBefore = Number(sim.core.db.get('SR', lvm.$ref).physical_utilisation)
    await expect(xapi.callAsync('VM.snapshot', onLvm.$ref, 'too big')).rejects.toMatchObject({
      code: 'SR_BACKEND_FAILURE_44',
      params: ['', 'There is insufficient space', ''],
    })
    expect(Number(sim.core.db.get('SR', lvm.$ref).physical_utilisation)).toBe(usedBefore)
    expect(sim.core.db.get('VM', onLvm.$ref).snapshots).toEqual([])

    const onExt = findByName(xapi, 'VM', 'on-ext')
    const ext = findByName(xapi, 'SR', 'ext')
    const extBefore = Number(sim.core.db.get('SR', ext.$ref).physical_utilisation)
    await snapshotVm(xapi, onExt.$ref, 'fits')
    expect(Number(sim.core.db.get('SR', ext.$ref).physical_utilisation) - extBefore).toBe(
      2 * sizes.calcOverheadEmpty(60 * GiB),
    )
  })

  it('an unhealthy chain while the GC is frozen becomes healthy once it has run', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    await sim.control.gc('ext', { action: 'freeze' })
    // XO's retention of 1: snapshot, export, delete the previous snapshot; three times.
    let previous: string | undefined
    for (let round = 1; round <= 3; round++) {
      await sim.control.writeDisk({ vm: vm.$ref }, round * 2 ** 21, Buffer.from(`round ${round}`))
      const snapshot = await snapshotVm(xapi, vm.$ref, `round ${round}`)
      if (previous !== undefined) {
        const [root, data] = disksOf(xapi, previous)
        await xapi.call('VM.destroy', previous)
        await xapi.call('VDI.destroy', root!.$ref)
        await xapi.call('VDI.destroy', data!.$ref)
      }
      previous = snapshot
    }
    const root = disk(xapi, vm.$ref)
    await eventually(
      () => health.uncoalescedAncestors(root.uuid, chainFacts(xapi)).length === 2,
      5000,
      'two pending coalesces',
    )
    expect(() => health.assertHealthyVdiChain(root.uuid, chainFacts(xapi))).toThrow(health.UnhealthyVdiChainError)

    // The GC runs under a "Garbage Collection" task while it has work.
    await sim.control.setKnobs({ gcQuietPeriodMs: 60_000, bootSkipsQuietPeriod: false })
    expect(await sim.control.gc('ext', { action: 'unfreeze' })).toMatchObject({ frozen: false })
    await eventually(
      () => cached(xapi, 'task').some((task) => task.name_label === 'Garbage Collection'),
      5000,
      'the GC task',
    )
    await sim.control.gc('ext', { action: 'expedite' })
    await sim.control.gc('ext', { action: 'whenIdle' })
    await eventually(
      () => !cached(xapi, 'task').some((task) => task.name_label === 'Garbage Collection'),
      5000,
      'the end of the GC task',
    )
    await eventually(
      () => health.uncoalescedAncestors(root.uuid, chainFacts(xapi)).length === 0,
      5000,
      'a coalesced chain',
    )
    expect(() => health.assertHealthyVdiChain(root.uuid, chainFacts(xapi))).not.toThrow()
    // What is left: the disk and the last snapshot on the one base copy they share.
    expect(chainDepth(xapi, disk(xapi, vm.$ref))).toBe(2)
  })

  it('reports a failed coalesce as SM does, with a message about the SR', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    await sim.control.gc('ext', { action: 'freeze' })
    await sim.control.writeDisk({ vm: vm.$ref }, 0, Buffer.from('x'))
    const snapshot = await snapshotVm(xapi, vm.$ref, 's')
    await sim.control.writeDisk({ vm: vm.$ref }, 0, Buffer.from('y'))
    await snapshotVm(xapi, vm.$ref, 't')
    const [root] = disksOf(xapi, snapshot)
    await xapi.call('VM.destroy', snapshot)
    await xapi.call('VDI.destroy', root!.$ref)
    await sim.control.gc('ext', { action: 'injectCoalesceFailure', errno: 'EIO' })
    await sim.control.gc('ext', { action: 'unfreeze' })
    await sim.control.gc('ext', { action: 'whenIdle' })
    const ext = findByName(xapi, 'SR', 'ext')
    await eventually(() => cached(xapi, 'message').some((m) => m.name === 'Input/output error'), 5000, 'the message')
    const message = cached(xapi, 'message').find((m) => m.name === 'Input/output error')!
    expect(message).toMatchObject({ cls: 'SR', obj_uuid: ext.uuid, priority: 3 })
    await eventually(
      () => (findByName(xapi, 'SR', 'ext').sm_config as Record<string, string>)['last-coalesce-error'] !== undefined,
      5000,
      'sm_config.last-coalesce-error',
    )
  })
})
