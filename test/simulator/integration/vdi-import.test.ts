import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import type { Xapi } from 'xen-api'
import { createVhdStream, createVhdStreamFromRawBlocks } from '../../../provider/disk'
import { patternBytes } from '../../../simulator'
import { connectedClient, findByName, stopAll } from '../helpers'
import { BLOCK, bodyOf, disksOf, expectSameBytes, exportRaw, MiB, snapshotVm, startPool } from './helpers'

afterEach(stopAll)

async function newVdi(xapi: Xapi, size: number, name = 'target'): Promise<string> {
  return xapi.call<string>('VDI.create', {
    name_label: name,
    name_description: '',
    SR: findByName(xapi, 'SR', 'ext').$ref,
    virtual_size: size,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
  })
}

/** A stream the xen-api client cannot size: it uses the 1 PiB content-length and closes the connection after it. */
function unsized(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < data.length; offset += 300_000) yield data.subarray(offset, offset + 300_000)
    })(),
  )
}

function sized(data: Buffer): Readable {
  return Object.assign(unsized(data), { length: data.length })
}

/** A raw image with a few patterns and zero gaps. */
function image(size: number): Buffer {
  const data = Buffer.alloc(size)
  patternBytes(11, 0, 3 * BLOCK + 17).copy(data, 0)
  patternBytes(12, 9 * BLOCK + 5, 100).copy(data, 9 * BLOCK + 5)
  patternBytes(13, size - 4096, 4096).copy(data, size - 4096)
  return data
}

describe('PUT /import_raw_vdi', () => {
  it('writes a raw image of known length, answers the VDI ref, and the export reads it back', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = await newVdi(xapi, 24 * MiB)
    const data = image(24 * MiB)
    await expect(xapi.putResource(sized(data), '/import_raw_vdi/', { query: { vdi, format: 'raw' } })).resolves.toBe(
      vdi,
    )
    expectSameBytes(await exportRaw(xapi, vdi), data, 'exported image')
    // All-zero blocks of a fresh disk were not stored.
    expect(sim.core.db.get('VDI', vdi).physical_utilisation).toBeLessThan(8 * BLOCK)
  })

  it('applies a VHD (known length and the 1 PiB hack) and a delta after it, as replication does', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const data = image(24 * MiB)
    const blocks = 12
    const vhd = async () =>
      bodyOf({
        body: await createVhdStreamFromRawBlocks({
          virtualSize: data.length,
          uuid: randomUUID(),
          readBlock: async (index) => data.subarray(index * BLOCK, Math.min(data.length, (index + 1) * BLOCK)),
          candidateBlocks: Array.from({ length: blocks }, (_, i) => i),
        }),
      })
    const full = await vhd()
    for (const body of [sized(full), unsized(full)]) {
      const vdi = await newVdi(xapi, 24 * MiB)
      await expect(xapi.putResource(body, '/import_raw_vdi/', { query: { vdi, format: 'vhd' } })).resolves.toBe(vdi)
      expectSameBytes(await exportRaw(xapi, vdi), data, 'imported VHD')
    }

    // A replica: the full export of one snapshot, then the delta to the next, onto the same VDI.
    const vm = findByName(xapi, 'VM', 'vm1')
    const first = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 'first'))[0]!
    await sim.control.writePattern({ vm: vm.$ref }, { seed: 5, offset: 5 * BLOCK + 3, length: 2 * BLOCK })
    const second = disksOf(xapi, await snapshotVm(xapi, vm.$ref, 'second'))[0]!
    const replica = await newVdi(xapi, Number(first.virtual_size), 'replica')
    for (const query of [{ vdi: first.$ref }, { vdi: second.$ref, base: first.$ref }]) {
      const response = await xapi.getResource('/export_raw_vdi/', { query: { ...query, format: 'vhd' } })
      const stream = await bodyOf(response)
      await response.task
      await xapi.putResource(sized(stream), '/import_raw_vdi/', { query: { vdi: replica, format: 'vhd' } })
    }
    expectSameBytes(await exportRaw(xapi, replica), await exportRaw(xapi, second.$ref), 'replica after the delta')
  })

  it('takes a raw stream of unknown length up to the end of the VDI', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = await newVdi(xapi, 10 * MiB)
    const data = image(10 * MiB)
    await xapi.putResource(unsized(data), '/import_raw_vdi/', { query: { vdi, format: 'raw' } })
    expectSameBytes(await exportRaw(xapi, vdi), data, 'raw image')
  })

  it('creates a VDI of the body length in an SR given instead of a VDI', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const data = image(8 * MiB)
    const ref = (await xapi.putResource(sized(data), '/import_raw_vdi/', {
      query: { sr_id: findByName(xapi, 'SR', 'ext').$ref, format: 'raw' },
    })) as string
    expect(sim.core.db.get('VDI', ref)).toMatchObject({ name_label: 'Imported VDI', virtual_size: 8 * MiB })
    expectSameBytes(await exportRaw(xapi, ref), data, 'imported image')
  })

  it("answers the client's empty probe with 200 and changes nothing", async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = findByName(xapi, 'VDI', 'vm1 data')
    const before = sim.core.db.generation
    const tasks = sim.core.db.count('task')
    const probe = await fetch(`${sim.url}/import_raw_vdi/?session_id=${xapi.sessionId}&vdi=${vdi.$ref}&format=vhd`, {
      method: 'PUT',
      body: '',
    })
    expect(probe.status).toBe(200)
    expect(sim.core.db.count('task')).toBe(tasks)
    expect(sim.core.db.generation).toBe(before)
  })

  it('fails the task with VDI_IO_ERROR on a corrupt VHD and writes nothing past it', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vdi = await newVdi(xapi, 8 * MiB)
    const good = await bodyOf({
      body: createVhdStream({
        virtualSize: 8 * MiB,
        diskType: 'dynamic',
        uuid: randomUUID(),
        blocks: [1],
        readBlock: async () => patternBytes(1, 0, BLOCK),
      }),
    })
    const corrupt = Buffer.from(good)
    corrupt.writeUInt8(corrupt.readUInt8(600) ^ 0xff, 600) // the header checksum no longer matches
    await expect(
      xapi.putResource(sized(corrupt), '/import_raw_vdi/', { query: { vdi, format: 'vhd' } }),
    ).rejects.toMatchObject({ code: 'VDI_IO_ERROR', params: ['Device I/O errors'] })
    expect((await exportRaw(xapi, vdi)).every((byte) => byte === 0)).toBe(true)
  })
})
