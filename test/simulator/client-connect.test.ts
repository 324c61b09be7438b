import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningSimulator } from '../../simulator'
import { getClass, simulatedClasses } from '../../simulator/model/classes'
import { cached, connectedClient, findByName, rawCall, rawLogin, startTestSimulator, stopAll } from './helpers'

let simulator: RunningSimulator

beforeAll(async () => {
  simulator = await startTestSimulator()
  // Give every class at least one object, so the client caches a record of each.
  const session = await rawLogin(simulator)
  const [vm] = (await rawCall(simulator, 'VM.get_by_name_label', [session, 'web-01'])) as string[]
  const uuid = await rawCall(simulator, 'VM.get_uuid', [session, vm])
  await rawCall(simulator, 'message.create', [session, 'VM_STARTED', 3, 'VM', uuid, 'started'])
  await rawCall(simulator, 'secret.create', [session, { value: 's3cret', other_config: {} }])
  const [pool] = (await rawCall(simulator, 'pool.get_all', [session])) as string[]
  await rawCall(simulator, 'pool.create_new_blob', [session, pool, 'notes', 'text/plain'])
  await rawCall(simulator, 'task.create', [session, 'a client task', ''])
})
afterAll(stopAll)

describe.each(['json-rpc', 'auto', 'xml-rpc'] as const)('the xen-api client over %s', (transport) => {
  it('logs in, reads system.listMethods and fills its cache with complete records of every class', async () => {
    const xapi = await connectedClient(simulator, { transport })
    for (const schema of simulatedClasses) {
      const records = cached(xapi, schema.name)
      expect(records.length, `cached ${schema.name} records`).toBeGreaterThan(0)
      for (const record of records) {
        expect(Object.keys(record).sort(), `fields of ${schema.name} ${record.$ref}`).toEqual(
          schema.fields.map((f) => f.name).sort(),
        )
      }
    }
    expect(xapi.pool.name_label).toBe('Demo pool')
  })

  it('gives relationship getters ($VBDs, $VDI, $resident_on) that resolve in the cache', async () => {
    const xapi = await connectedClient(simulator, { transport })
    const db01 = findByName(xapi, 'VM', 'db-01')
    const vbds = db01.$VBDs as { type: string; $VDI?: { name_label: string } }[]
    expect(vbds.map((vbd) => vbd.type).sort()).toEqual(['CD', 'Disk', 'Disk'])
    expect(
      vbds
        .filter((vbd) => vbd.type === 'Disk')
        .map((vbd) => vbd.$VDI?.name_label)
        .sort(),
    ).toEqual(['db-01 data', 'db-01 root'])
    expect((db01.$resident_on as { name_label: string }).name_label).toBe('xcp-ng-2')
    // An unset ref reads as undefined, which backup code relies on (`vm.$snapshot_of`).
    expect(db01.snapshot_of).toBe('OpaqueRef:NULL')
    expect(db01.$snapshot_of).toBeUndefined()
    const dom0 = cached(xapi, 'VM').filter((vm) => vm.is_control_domain === true)
    expect(dom0).toHaveLength(2)
    expect(dom0.every((vm) => vm.power_state === 'Running' && vm.domid === (transport === 'xml-rpc' ? '0' : 0))).toBe(
      true,
    )
  })
})

describe('wire types', () => {
  it('are ints as numbers and dates as strings over JSON-RPC, strings and Dates over XML-RPC', async () => {
    const json = await connectedClient(simulator, { transport: 'json-rpc' })
    const xml = await connectedClient(simulator, { transport: 'xml-rpc' })
    const vdiJson = findByName(json, 'VDI', 'web-01 root')
    const vdiXml = xml.getObjectByRef(vdiJson.$ref)
    expect(vdiJson.virtual_size).toBe(20 * 2 ** 30)
    expect(vdiXml.virtual_size).toBe(String(20 * 2 ** 30))
    expect(vdiJson.snapshot_time).toBe('19700101T00:00:00Z')
    expect(vdiXml.snapshot_time).toBeInstanceOf(Date)
    expect((vdiXml.snapshot_time as Date).getTime()).toBe(0)
    expect(vdiXml.read_only).toBe(false)
    const hostCpu = cached(xml, 'host_cpu')[0]!
    expect(hostCpu.utilisation).toBe(0.02)
  })

  it('keeps record fields identical between the transports apart from those encodings', async () => {
    const json = await connectedClient(simulator, { transport: 'json-rpc' })
    const xml = await connectedClient(simulator, { transport: 'xml-rpc' })
    const vmType = getClass('VM')
    const web = findByName(json, 'VM', 'web-01')
    const webXml = xml.getObjectByRef(web.$ref)
    for (const field of vmType.fields) {
      const kind = field.type.kind
      if (kind === 'int') expect(String(web[field.name]), field.name).toBe(webXml[field.name])
      else if (kind === 'datetime') expect(webXml[field.name], field.name).toBeInstanceOf(Date)
      else if (kind === 'map' && field.type.value.kind === 'int') continue
      else expect(webXml[field.name], field.name).toEqual(web[field.name])
    }
  })
})
