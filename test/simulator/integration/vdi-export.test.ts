import { afterEach, describe, expect, it } from 'vitest'
import { patternBytes } from '../../../simulator'
import { connectedClient, eventually, findByName, stopAll } from '../helpers'
import {
  applyVhd,
  BLOCK,
  bodyOf,
  disksOf,
  expectSameBytes,
  exportRaw,
  isDifferencing,
  MiB,
  sha256,
  snapshotVm,
  startPool,
  vmOfDisk,
} from './helpers'

afterEach(stopAll)

describe('GET /export_raw_vdi', () => {
  it('exports a full VHD whose blocks are the disk, a delta whose blocks turn the base into the snapshot', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const disk = { vm: vm.$ref, disk: 0 }

    // Guest writes before the first snapshot, some unaligned and across block boundaries.
    await sim.control.writePattern(disk, { seed: 1, offset: 3 * BLOCK - 1000, length: 5000 })
    await sim.control.writeDisk(disk, 60 * MiB + 7, Buffer.from('hello from the guest'))
    const base = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 'first'))[0]!

    const full = await xapi.getResource('/export_raw_vdi/', { query: { vdi: base.$ref, format: 'vhd' } })
    expect(full.statusCode).toBe(200)
    expect(full.headers['content-type']).toBe('application/vhd')
    expect(full.headers['content-disposition']).toBe(`attachment; filename="${base.uuid}.vhd"`)
    const taskRef = full.headers['task-id'] as string
    expect(taskRef).toMatch(/^OpaqueRef:/)
    const baseImage = Buffer.alloc(Number(base.virtual_size))
    const parsed = await applyVhd(full.body, baseImage)
    await expect(full.task).resolves.toBe('')
    expect(isDifferencing(parsed.footer)).toBe(false)
    expect(parsed.footer.currentSize).toBe(64 * MiB)
    expect(parsed.footer.creatorApplication).toBe('caml')
    // 50 % synthetic fill, the pattern's blocks and the block of the little write.
    expect(parsed.blocks.length).toBeGreaterThanOrEqual(16)
    expectSameBytes(baseImage, await exportRaw(xapi, base.$ref), 'full VHD export vs raw export')
    expectSameBytes(
      baseImage.subarray(3 * BLOCK - 1000, 3 * BLOCK + 4000),
      patternBytes(1, 3 * BLOCK - 1000, 5000),
      'the pattern written',
    )
    expect(baseImage.subarray(60 * MiB + 7, 60 * MiB + 27).toString()).toBe('hello from the guest')

    // More writes, then the second snapshot; the delta against the first applies onto its image.
    await sim.control.writePattern(disk, { seed: 2, offset: 10 * BLOCK + 511, length: 3 * BLOCK })
    await sim.control.writeDisk(disk, 0, Buffer.from([1, 2, 3]))
    await sim.control.writeDisk(disk, 64 * MiB - 3, Buffer.from([7, 7, 7]))
    const next = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 'second'))[0]!
    const delta = await xapi.getResource('/export_raw_vdi/', {
      query: { vdi: next.$ref, format: 'vhd', base: base.$ref },
    })
    const image = Buffer.from(baseImage)
    const deltaParsed = await applyVhd(delta.body, image)
    await delta.task
    expect(isDifferencing(deltaParsed.footer)).toBe(true)
    expect(deltaParsed.blocks).toEqual([0, 10, 11, 12, 13, 31])
    expectSameBytes(image, await exportRaw(xapi, next.$ref), 'base + delta vs the second snapshot')
  })

  it('accepts uuids for vdi and base, and a delta against an unrelated disk still rebuilds the disk', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const other = findByName(xapi, 'VM', 'halted')
    const vdi = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 's'))[0]!
    const unrelated = disksOf(xapi, await snapshotVm(xapi, other.$ref, 'o'))[0]!
    const response = await xapi.getResource('/export_raw_vdi', {
      query: { vdi: vdi.uuid, base: unrelated.uuid, format: 'vhd' },
    })
    // The unrelated base's image is smaller: the delta carries both chains' blocks and stays exact.
    const image = Buffer.alloc(Number(vdi.virtual_size))
    const unrelatedImage = await exportRaw(xapi, unrelated.$ref)
    unrelatedImage.copy(image)
    await applyVhd(response.body, image)
    await response.task
    expect(sha256(image)).toBe(sha256(await exportRaw(xapi, vdi.$ref)))
  })

  it('puts the error inside the 200 body for a base whose data was destroyed, so XO falls back to a full export', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const vdi = disksOf(xapi, vm.$ref)[0]!
    await xapi.call('VDI.enable_cbt', vdi.$ref)
    const baseSnap = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 'base'))[0]!
    const nextSnap = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 'next'))[0]!
    await xapi.call('VM.destroy', vmOfDisk(baseSnap))
    await xapi.call('VDI.data_destroy', baseSnap.$ref)
    const response = await xapi.getResource('/export_raw_vdi/', {
      query: { vdi: nextSnap.$ref, base: baseSnap.$ref, format: 'vhd' },
    })
    expect(response.statusCode).toBe(200)
    const body = await bodyOf(response)
    expect(body.subarray(0, 5).toString()).toBe('HTTP/')
    expect(body.toString()).toContain('500 Internal Error')
    await expect(response.task).rejects.toMatchObject({
      code: 'VDI_INCOMPATIBLE_TYPE',
      params: [baseSnap.$ref, 'cbt_metadata'],
    })
  })

  it('answers an unknown format with 404 and fails the task; a bad session with 401', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = findByName(xapi, 'VDI', 'vm1 root')
    const task = (await xapi.call('task.create', 'export', '')) as string
    const unknown = await fetch(
      `${sim.url}/export_raw_vdi?session_id=${xapi.sessionId}&task_id=${task}&vdi=${vdi.$ref}&format=bogus`,
    )
    expect(unknown.status).toBe(404)
    expect(sim.core.db.get('task', task)).toMatchObject({
      status: 'failure',
      error_info: ['INTERNAL_ERROR', 'Unknown format bogus'],
    })
    const denied = await fetch(`${sim.url}/export_raw_vdi/?session_id=OpaqueRef:nope&vdi=${vdi.$ref}`)
    expect(denied.status).toBe(401)
    expect(denied.headers.get('www-authenticate')).toContain('Basic')
  })

  it('refuses a VHD export of a disk larger than XAPI can write as VHD (VDI_TOO_LARGE, after the 200)', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = findByName(xapi, 'VDI', 'vm1 data')
    // No SR can hold such a disk in the simulator: make the record claim it.
    sim.core.db.update('VDI', vdi.$ref, { virtual_size: 2041 * 2 ** 30 })
    const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi.$ref, format: 'vhd' } })
    expect(response.statusCode).toBe(200)
    expect((await bodyOf(response)).subarray(0, 5).toString()).toBe('HTTP/')
    await expect(response.task).rejects.toMatchObject({
      code: 'VDI_TOO_LARGE',
      params: [vdi.$ref, String(2040 * 2 ** 30)],
    })
  })

  it('holds the disk attached while it exports: VDI.destroy fails with VDI_IN_USE until the export ends', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const snap = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 's'))[0]!
    await sim.control.addFault({ channel: 'http', method: '/export_raw_vdi', action: { kind: 'stuck' } })
    const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi: snap.$ref, format: 'raw' } })
    await eventually(() => sim.core.faults.stuckCount === 1, 5000, 'the export to stall')
    await expect(xapi.call('VDI.destroy', snap.$ref)).rejects.toMatchObject({ code: 'VDI_IN_USE' })
    await sim.control.releaseStuck()
    expect((await bodyOf(response)).length).toBe(64 * MiB)
    await response.task
    await xapi.call('VM.destroy', vmOfDisk(snap))
    await xapi.call('VDI.destroy', snap.$ref)
  })
})
