import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import type { Xapi, XapiRecord } from 'xen-api'
import { readXva } from '../../../provider/disk'
import { fixtureSchema } from '../../../simulator'
import { decodeValueFragment } from '../../../simulator/wire/xmlrpc'
import { connectedClient, eventually, findByName, stopAll } from '../helpers'
import { bodyOf, disksOf, expectSameBytes, exportRaw, GiB, MiB, smallPool, snapshotVm, startPool } from './helpers'

afterEach(stopAll)

async function exportXva(xapi: Xapi, vm: string, query: Record<string, string> = {}): Promise<Buffer> {
  const response = await xapi.getResource('/export/', { query: { ref: vm, ...query } })
  expect(response.headers['content-disposition']).toBe('attachment; filename="export.xva"')
  const data = await bodyOf(response)
  await response.task
  return data
}

async function importXva(xapi: Xapi, data: Buffer, sr: string, sized = true): Promise<string> {
  const chunks = (function* () {
    for (let offset = 0; offset < data.length; offset += 1 << 20) yield data.subarray(offset, offset + (1 << 20))
  })()
  const body = Readable.from(chunks)
  if (sized) Object.assign(body, { length: data.length })
  const refs = (await xapi.putResource(body, '/import/', { query: { sr_id: sr } })) as string[]
  expect(refs).toHaveLength(1)
  await eventually(() => xapi.getObject(refs[0]!, null) !== null, 5000, 'the imported VM')
  return refs[0]!
}

/** What must survive an export and import: the VM's settings, devices and disks (not its identity). */
function portable(xapi: Xapi, vm: string) {
  const record = xapi.getObject(vm) as XapiRecord
  const { mac_seed: _seed, import_task: _task, ...otherConfig } = record.other_config as Record<string, string>
  return {
    name_label: record.name_label,
    name_description: record.name_description,
    memory_static_max: record.memory_static_max,
    VCPUs_max: record.VCPUs_max,
    tags: record.tags,
    other_config: otherConfig,
    HVM_boot_policy: record.HVM_boot_policy,
    platform: record.platform,
    VBDs: (record.$VBDs as XapiRecord[])
      .map((vbd) => ({
        userdevice: vbd.userdevice,
        type: vbd.type,
        mode: vbd.mode,
        bootable: vbd.bootable,
        empty: vbd.empty,
        vdi: vbd.$VDI === undefined ? null : (vbd.$VDI as XapiRecord).name_label,
        size: vbd.$VDI === undefined ? null : (vbd.$VDI as XapiRecord).virtual_size,
      }))
      .sort((a, b) => Number(a.userdevice) - Number(b.userdevice)),
    VIFs: (record.$VIFs as XapiRecord[]).map((vif) => ({ device: vif.device, network: vif.network, MTU: vif.MTU })),
  }
}

describe('XVA export and import', () => {
  it.each([
    ['plain', 'false'],
    ['gzip', 'true'],
    ['zstd', 'zstd'],
  ])('a %s XVA of a snapshot imports back into an identical VM', async (_name, compression) => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    await sim.control.writePattern({ vm: vm.$ref, disk: 1 }, { seed: 3, offset: 5 * MiB + 1, length: 3 * MiB })
    const snapshot = await snapshotVm(xapi, vm.$ref, 'to export')
    await xapi.call('VM.set_is_a_template', snapshot, false)
    await eventually(() => (xapi.getObject(snapshot) as XapiRecord).is_a_template === false, 5000, 'the template flag')
    const data = await exportXva(xapi, snapshot, { use_compression: compression })
    expect(data.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(compression === 'true')
    expect(data.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe(compression === 'zstd')

    const imported = await importXva(xapi, data, findByName(xapi, 'SR', 'lvm').$ref, compression !== 'zstd')
    const expected = portable(xapi, snapshot)
    expect(portable(xapi, imported)).toEqual(expected)
    const record = xapi.getObject(imported) as XapiRecord
    expect(record).toMatchObject({
      power_state: 'Halted',
      is_a_snapshot: false,
      is_a_template: false,
      current_operations: {},
    })
    const seedOf = (vm: string) => ((xapi.getObject(vm) as XapiRecord).other_config as Record<string, string>).mac_seed
    expect(seedOf(imported)).not.toBe(seedOf(snapshot))
    const sourceDisks = disksOf(xapi, snapshot)
    const importedDisks = disksOf(xapi, imported)
    expect(importedDisks.map((vdi) => (vdi.$SR === undefined ? '' : (vdi.$SR as XapiRecord).name_label))).toEqual([
      'lvm',
      'lvm',
    ])
    for (const [i, disk] of importedDisks.entries()) {
      expectSameBytes(await exportRaw(xapi, disk.$ref), await exportRaw(xapi, sourceDisks[i]!.$ref), `disk ${i}`)
    }
    // The CD drive found the same ISO image by its name.
    const cd = (record.$VBDs as XapiRecord[]).find((vbd) => vbd.type === 'CD')!
    expect((cd.$VDI as XapiRecord).name_label).toBe('tools.iso')
  })

  it('writes ova.xml as XAPI does: version of the exporting host, objects with Ref ids, disks by id', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const halted = findByName(xapi, 'VM', 'halted')
    const data = await exportXva(xapi, halted.$ref)
    const items = []
    for await (const item of readXva([data])) items.push(item)
    const ova = items[0]!
    if (ova.type !== 'ova.xml') throw new Error('ova.xml is not the first entry')
    expect(ova.data.toString().startsWith('<value><struct><member><name>version</name>')).toBe(true)
    const header = decodeValueFragment(ova.data.toString()) as {
      version: Record<string, string>
      objects: { class: string; id: string; snapshot: Record<string, unknown> }[]
    }
    expect(header.version).toEqual({
      hostname: 'h1',
      date: '2025-06-26',
      product_version: '8.3.0',
      product_brand: 'XCP-ng',
      build_number: 'release/yangtze/master/58',
      xapi_major: '26',
      xapi_minor: '4',
      export_vsn: '2',
    })
    const classes = header.objects.map((object) => object.class)
    // A halted VM without affinity names no host; its empty CD drive no VDI.
    expect(classes).toEqual(['VM', 'VM_metrics', 'VBD', 'VBD', 'VIF', 'network', 'VDI', 'SR'])
    expect(header.objects.every((object) => /^Ref:\d+$/.test(object.id))).toBe(true)
    const vmObject = header.objects.find((object) => object.class === 'VM')!
    const vdiObject = header.objects.find((object) => object.class === 'VDI')!
    expect(vmObject.snapshot.VBDs).toEqual(header.objects.filter((o) => o.class === 'VBD').map((o) => o.id))
    expect(vdiObject.snapshot.SR).toBe(header.objects.find((object) => object.class === 'SR')!.id)
    const chunks = items.filter((item) => item.type === 'chunk')
    expect(new Set(chunks.map((chunk) => (chunk.type === 'chunk' ? chunk.ref : '')))).toEqual(new Set([vdiObject.id]))
  })

  it('exports only halted or suspended VMs (VM_BAD_POWER_STATE, HTTP 500) and keeps the export operation while streaming', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const running = findByName(xapi, 'VM', 'vm1')
    const task = await xapi.call<string>('task.create', 'export', '')
    const refused = await fetch(`${sim.url}/export?session_id=${xapi.sessionId}&task_id=${task}&ref=${running.$ref}`)
    expect(refused.status).toBe(500)
    expect(sim.core.db.get('task', task)).toMatchObject({
      status: 'failure',
      error_info: ['VM_BAD_POWER_STATE', running.$ref, 'halted, suspended', 'running'],
    })
    const halted = findByName(xapi, 'VM', 'halted')
    await sim.control.addFault({ channel: 'http', method: '/export', action: { kind: 'stuck' } })
    const response = await xapi.getResource('/export/', { query: { ref: halted.$ref } })
    await eventually(() => sim.core.faults.stuckCount === 1, 5000, 'the export to stall')
    expect(Object.values(sim.core.db.get('VM', halted.$ref).current_operations as object)).toEqual(['export'])
    await expect(xapi.call('VM.start', halted.$ref, false, false)).rejects.toMatchObject({
      code: 'OTHER_OPERATION_IN_PROGRESS',
    })
    await sim.control.releaseStuck()
    await bodyOf(response)
    await response.task
    expect(sim.core.db.get('VM', halted.$ref).current_operations).toEqual({})
  })

  it('exports a checkpoint with its memory (preserve_power_state) and imports a suspended VM with the same memory image', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'vm1')
    const checkpoint = await snapshotVm(xapi, vm.$ref, 'with memory', 'VM.checkpoint')
    const suspendVdi = String((xapi.getObject(checkpoint) as XapiRecord).suspend_VDI)
    const data = await exportXva(xapi, checkpoint, { preserve_power_state: 'true' })
    const imported = await importXva(xapi, data, findByName(xapi, 'SR', 'ext').$ref, false)
    await eventually(() => (xapi.getObject(imported) as XapiRecord).$suspend_VDI !== undefined, 5000, 'the suspend VDI')
    const record = xapi.getObject(imported) as XapiRecord
    expect(record.power_state).toBe('Suspended')
    expectSameBytes(
      await exportRaw(xapi, String(record.suspend_VDI)),
      await exportRaw(xapi, suspendVdi),
      'memory image',
    )
  })

  it('fails an import into a full thick LVM SR with SR_BACKEND_FAILURE_44 and leaves nothing behind', async () => {
    const fixture = smallPool()
    fixture.vms = [...(fixture.vms ?? []), { name: 'big', disks: [{ size: '12GiB', sr: 'ext', used: '0%' }] }]
    const sim = await startPool({ fixture: fixtureSchema.parse(fixture) })
    const xapi = await connectedClient(sim)
    const data = await exportXva(xapi, findByName(xapi, 'VM', 'big').$ref)
    expect(data.length).toBeLessThan(4 * MiB)
    const vms = sim.core.db.count('VM')
    const vdis = sim.core.db.count('VDI')
    const lvm = findByName(xapi, 'SR', 'lvm')
    await expect(importXva(xapi, data, lvm.$ref)).rejects.toMatchObject({
      code: 'SR_BACKEND_FAILURE_44',
      params: ['', 'There is insufficient space', ''],
    })
    expect(sim.core.db.count('VM')).toBe(vms)
    expect(sim.core.db.count('VDI')).toBe(vdis)
    expect(Number(sim.core.db.get('SR', lvm.$ref).physical_size)).toBe(10 * GiB)
  })
})
