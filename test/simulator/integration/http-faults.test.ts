import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { batBytes, createVhdStream, parseVhdStream, VhdError } from '../../../provider/disk'
import { patternBytes } from '../../../simulator'
import { connectedClient, eventually, findByName, stopAll } from '../helpers'
import { BLOCK, bodyOf, disksOf, MiB, snapshotVm, startPool } from './helpers'

afterEach(stopAll)

/** The first VHD problem a body has, or undefined when it parses completely. */
async function vhdProblem(body: Buffer): Promise<VhdError | undefined> {
  try {
    for await (const _item of parseVhdStream([body])) {
      // read to the end
    }
  } catch (error) {
    if (error instanceof VhdError) return error
    throw error
  }
  return undefined
}

describe('faults of disk transfers (channel http)', () => {
  it('VDI_IO_ERROR after N blocks: the stream ends early with the 500 page, the task fails with the code', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const [vdi] = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 's'))
    await sim.control.addFault({
      channel: 'http',
      method: '/export_raw_vdi',
      objectRef: vdi!.$ref,
      afterBlocks: 3,
      action: { kind: 'error', code: 'VDI_IO_ERROR', params: ['Device I/O errors'] },
    })
    const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi!.$ref, format: 'vhd' } })
    expect(response.statusCode).toBe(200)
    const body = await bodyOf(response)
    await expect(response.task).rejects.toMatchObject({ code: 'VDI_IO_ERROR', params: ['Device I/O errors'] })
    const cut = 2048 + batBytes(32) + 3 * (BLOCK + 512)
    expect(body.subarray(cut, cut + 12).toString()).toBe('HTTP/1.1 500')
    expect((await vhdProblem(body))?.code).toMatch(/VHD_TRUNCATED|VHD_FOOTER_MISMATCH|VHD_BAD/)

    // The rule was for one call: the next export is whole.
    const again = await xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi!.$ref, format: 'vhd' } })
    expect(await vhdProblem(await bodyOf(again))).toBeUndefined()
    await again.task
  })

  it("XAPI's HTTP/1.1 500 inside a 200 body, which XO recognises", async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = findByName(xapi, 'VDI', 'vm1 data')
    await sim.control.addFault({ channel: 'http', method: '/export_raw_vdi', action: { kind: 'httpErrorInBody' } })
    const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi.$ref, format: 'vhd' } })
    expect(response.statusCode).toBe(200)
    const body = await bodyOf(response)
    expect(body.subarray(0, 5).toString()).toBe('HTTP/')
    expect(await vhdProblem(body)).toBeInstanceOf(VhdError)
    await expect(response.task).rejects.toMatchObject({ code: 'INTERNAL_ERROR' })
  })

  it('a cut connection: before the status the request fails, in the body the stream breaks', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = findByName(xapi, 'VDI', 'vm1 root')
    await sim.control.addFault({ channel: 'http', method: '/export_raw_vdi', action: { kind: 'cutConnection' } })
    await expect(xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi.$ref } })).rejects.toThrow()
    await sim.control.addFault({
      channel: 'http',
      method: '/export_raw_vdi',
      afterBytes: 5 * MiB,
      action: { kind: 'cutConnection' },
    })
    const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi.$ref } })
    // The reset ends the (close-delimited) body early; only the length tells, as with XAPI.
    const body = await bodyOf(response).catch(() => Buffer.alloc(0))
    expect(body.length).toBeLessThanOrEqual(5 * MiB)
    await expect(response.task).rejects.toMatchObject({ code: 'VDI_IO_ERROR' })
  })

  it('a slow export moves at the rate asked for; a stuck one waits for release or cancellation', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = findByName(xapi, 'VDI', 'vm1 data')
    const throttled = await sim.control.addFault({
      channel: 'http',
      method: '/export_raw_vdi',
      action: { kind: 'throttle', bytesPerSecond: 2 * MiB },
    })
    const slowTask = await xapi.call<string>('task.create', 'slow export', '')
    const slow = await xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi.$ref }, task: slowTask })
    // After its first 2 MiB, a 34 MiB export at 2 MiB/s is far from done.
    let received = 0
    for await (const chunk of slow.body) {
      received += (chunk as Buffer).length
      if (received >= 2 * MiB) break
    }
    expect(sim.core.db.get('task', slowTask).status).toBe('pending')
    await xapi.call('task.cancel', slowTask)
    await eventually(() => sim.core.db.get('task', slowTask).status === 'cancelled', 5000, 'the cancellation')
    await sim.control.removeFault(throttled)

    const rule = await sim.control.addFault({
      channel: 'http',
      method: '/export_raw_vdi',
      afterBytes: MiB,
      action: { kind: 'stuck' },
    })
    const task = await xapi.call<string>('task.create', 'stuck export', '')
    const stuck = await xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi.$ref }, task })
    await eventually(() => sim.core.faults.stuckCount === 1, 5000, 'the stall')
    expect((await sim.control.listFaults()).find((f) => f.id === rule)?.hits).toBe(1)
    await xapi.call('task.cancel', task)
    await expect(bodyOf(stuck)).resolves.toBeDefined()
    await eventually(() => sim.core.db.get('task', task).status === 'cancelled', 5000, 'the cancellation')
  })

  it('an import failing after N bytes fails its task with the code and leaves the VDI as the bytes before made it', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = await xapi.call<string>('VDI.create', {
      name_label: 'target',
      SR: findByName(xapi, 'SR', 'ext').$ref,
      virtual_size: 16 * MiB,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
    })
    const data = await bodyOf({
      body: createVhdStream({
        virtualSize: 16 * MiB,
        diskType: 'dynamic',
        uuid: randomUUID(),
        blocks: [0, 5],
        readBlock: async (index) => patternBytes(index, index * BLOCK, BLOCK),
      }),
    })
    await sim.control.addFault({
      channel: 'http',
      method: '/import_raw_vdi',
      afterBytes: 3 * MiB,
      action: { kind: 'error', code: 'VDI_IO_ERROR', params: ['Device I/O errors'] },
    })
    const body = Object.assign(Readable.from([data]), { length: data.length })
    await expect(xapi.putResource(body, '/import_raw_vdi/', { query: { vdi, format: 'vhd' } })).rejects.toMatchObject({
      code: 'VDI_IO_ERROR',
    })
    const image = await sim.control.readDisk({ vdi }, 0, 16 * MiB)
    expect(image.subarray(0, BLOCK).equals(patternBytes(0, 0, BLOCK))).toBe(true)
    expect(image.subarray(5 * BLOCK, 6 * BLOCK).every((byte) => byte === 0)).toBe(true)
  })

  it('counts transfers in flight per handler for concurrency checks', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = findByName(xapi, 'VDI', 'vm1 data')
    await Promise.all(
      [1, 2, 3].map(async () => {
        const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi: vdi.$ref } })
        await bodyOf(response)
        await response.task
      }),
    )
    expect((await sim.control.operationStats())['http:/export_raw_vdi']).toMatchObject({ calls: 3, inFlight: 0 })
  })
})
