import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningSimulator } from '../../simulator'
import { connectedClient, rawCall, rawJsonRpc, rawLogin, rawXmlRpc, startTestSimulator, stopAll } from './helpers'

let sim: RunningSimulator
let session: string
let vmRef: (name: string) => Promise<string>

beforeAll(async () => {
  sim = await startTestSimulator()
  session = await rawLogin(sim)
  vmRef = async (name) => ((await rawCall(sim, 'VM.get_by_name_label', [session, name])) as string[])[0]!
})
afterAll(stopAll)

const call = (method: string, ...params: unknown[]) => rawCall(sim, method, [session, ...params])

describe('JSON-RPC envelope', () => {
  it('echoes the id, sets content-type exactly, has no error member on v2 success', async () => {
    const v2 = await rawJsonRpc(sim, { jsonrpc: '2.0', id: 'abc', method: 'pool.get_all', params: [session] })
    expect(v2.status).toBe(200)
    expect(v2.contentType).toBe('application/json')
    const body = JSON.parse(v2.text) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['id', 'jsonrpc', 'result'])
    expect(body.id).toBe('abc')
    const v1 = JSON.parse((await rawJsonRpc(sim, { id: 42, method: 'pool.get_all', params: [session] })).text)
    expect(v1).toEqual({ result: [sim.core.poolRef()], error: null, id: 42 })
  })

  it('carries errors as {code: 1, message, data} in v2 and as an array in v1', async () => {
    const v2 = JSON.parse(
      (await rawJsonRpc(sim, { jsonrpc: '2.0', id: 3, method: 'VM.get_record', params: ['OpaqueRef:nope', 'x'] })).text,
    )
    expect(v2).toEqual({
      jsonrpc: '2.0',
      error: { code: 1, message: 'SESSION_INVALID', data: ['OpaqueRef:nope'] },
      id: 3,
    })
    const v1 = JSON.parse(
      (await rawJsonRpc(sim, { id: 4, method: 'VM.get_record', params: ['OpaqueRef:nope', 'x'] })).text,
    )
    expect(v1).toEqual({ result: null, error: ['SESSION_INVALID', 'OpaqueRef:nope'], id: 4 })
  })

  it('answers HTTP 500 to a request it cannot read', async () => {
    for (const body of [
      '{not json',
      '[]',
      JSON.stringify({ jsonrpc: '2.0', method: 'x', params: [] }),
      JSON.stringify({ id: 1, method: 'x' }),
      JSON.stringify({ jsonrpc: '2.0', id: 1.5, method: 'x' }),
    ]) {
      const response = await rawJsonRpc(sim, body)
      expect(response.status, body).toBe(500)
      expect(response.contentType).toBe('text/html')
    }
  })
})

describe('XML-RPC envelope', () => {
  const methodCall = (method: string, params: string) =>
    `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>`

  it('answers on /, /RPC2 and any other POST path with a Status struct, and bare for system.listMethods', async () => {
    for (const path of ['/', '/RPC2', '/xmlrpc', '/anything/else']) {
      const response = await rawXmlRpc(
        sim,
        path,
        methodCall('pool.get_all', `<param><value>${session}</value></param>`),
      )
      expect(response.contentType).toBe('text/xml')
      expect(response.text).toBe(
        `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value><array><data><value>${sim.core.poolRef()}</value></data></array></value></member></struct></value></param></params></methodResponse>`,
      )
    }
    const list = await rawXmlRpc(sim, '/', methodCall('system.listMethods', ''))
    expect(list.text).toMatch(/^<\?xml version="1.0"\?><methodResponse><params><param><value><array><data><value>/)
    expect(list.text).not.toContain('Status')
  })

  it('encodes failures as ErrorDescription arrays, and reads ints sent as strings', async () => {
    const failure = await rawXmlRpc(
      sim,
      '/',
      methodCall(
        'task.get_status',
        `<param><value>${session}</value></param><param><value>OpaqueRef:gone</value></param>`,
      ),
    )
    expect(failure.text).toContain(
      '<member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HANDLE_INVALID</value><value>task</value><value>OpaqueRef:gone</value></data></array></value></member>',
    )
    const vm = await vmRef('legacy-app')
    const ints = [
      '<value>268435456</value>',
      '<value><i4>1073741824</i4></value>',
      '<value><int>536870912</int></value>',
      '<value><string>1073741824</string></value>',
    ]
    const response = await rawXmlRpc(
      sim,
      '/',
      methodCall(
        'VM.set_memory_limits',
        [`<value>${session}</value>`, `<value>${vm}</value>`, ...ints].map((v) => `<param>${v}</param>`).join(''),
      ),
    )
    expect(response.text).toContain('<value>Success</value>')
    expect(sim.core.db.get('VM', vm)).toMatchObject({
      memory_static_min: 268435456,
      memory_static_max: 1073741824,
      memory_dynamic_min: 536870912,
      memory_dynamic_max: 1073741824,
    })
  })

  it('answers HTTP 500 to a document that is not a method call', async () => {
    const response = await rawXmlRpc(sim, '/', '<methodCall><methodName>x</methodName><params><param>')
    expect(response.status).toBe(500)
  })
})

describe('dispatch errors (XAPI order)', () => {
  it('MESSAGE_METHOD_UNKNOWN, after the session check when there is a first parameter', async () => {
    await expect(call('VM.no_such_method')).rejects.toMatchObject({
      code: 'MESSAGE_METHOD_UNKNOWN',
      params: ['VM.no_such_method'],
    })
    await expect(rawCall(sim, 'VM.no_such_method', ['OpaqueRef:bad'])).rejects.toMatchObject({
      code: 'SESSION_INVALID',
    })
    await expect(rawCall(sim, 'VM.no_such_method', [])).rejects.toMatchObject({ code: 'MESSAGE_METHOD_UNKNOWN' })
    await expect(call('Async.VM.no_such_method')).rejects.toMatchObject({
      code: 'MESSAGE_METHOD_UNKNOWN',
      params: ['VM.no_such_method'],
    })
  })

  it('MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received], allowing trailing defaults', async () => {
    const vm = await vmRef('web-01')
    await expect(call('VM.get_record')).rejects.toMatchObject({
      code: 'MESSAGE_PARAMETER_COUNT_MISMATCH',
      params: ['VM.get_record', '1', '0'],
    })
    await expect(call('VM.get_record', vm, 'extra')).rejects.toMatchObject({ params: ['VM.get_record', '1', '2'] })
    await expect(call('VM.start', vm)).rejects.toMatchObject({ params: ['VM.start', '3', '1'] })
    // pool.create_new_blob has a trailing `public` with a default: 3 or 4 arguments work.
    const pool = sim.core.poolRef()
    await expect(call('pool.create_new_blob', pool, 'a', 'text/plain')).resolves.toMatch(/^OpaqueRef:/)
    await expect(call('pool.create_new_blob', pool, 'b', 'text/plain', true)).resolves.toMatch(/^OpaqueRef:/)
    await expect(call('pool.create_new_blob', pool, 'c')).rejects.toMatchObject({
      params: ['pool.create_new_blob', '3', '2'],
    })
    await expect(rawCall(sim, 'session.login_with_password', ['root'])).rejects.toMatchObject({
      params: ['session.login_with_password', '2', '1'],
    })
  })

  it('SESSION_INVALID [session] for an unknown or ended session', async () => {
    await expect(rawCall(sim, 'VM.get_all', ['OpaqueRef:unknown'])).rejects.toMatchObject({
      code: 'SESSION_INVALID',
      params: ['OpaqueRef:unknown'],
    })
    const other = await rawLogin(sim)
    await rawCall(sim, 'session.logout', [other])
    await expect(rawCall(sim, 'VM.get_all', [other])).rejects.toMatchObject({
      code: 'SESSION_INVALID',
      params: [other],
    })
  })

  it('MESSAGE_REMOVED for VM.snapshot_with_quiesce (after the session check)', async () => {
    const vm = await vmRef('web-01')
    await expect(call('VM.snapshot_with_quiesce', vm, 'snap')).rejects.toMatchObject({
      code: 'MESSAGE_REMOVED',
      params: [],
    })
    await expect(rawCall(sim, 'VM.snapshot_with_quiesce', ['OpaqueRef:bad', vm, 'snap'])).rejects.toMatchObject({
      code: 'SESSION_INVALID',
    })
  })

  it('HANDLE_INVALID [class, ref], UUID_INVALID [class, uuid]', async () => {
    await expect(call('VM.get_record', 'OpaqueRef:missing')).rejects.toMatchObject({
      code: 'HANDLE_INVALID',
      params: ['VM', 'OpaqueRef:missing'],
    })
    const host = (await call('host.get_all')) as string[]
    await expect(call('VM.get_name_label', host[0])).rejects.toMatchObject({
      code: 'HANDLE_INVALID',
      params: ['VM', host[0]],
    })
    const hostUuid = (await call('host.get_uuid', host[0])) as string
    await expect(call('VM.get_by_uuid', hostUuid)).rejects.toMatchObject({
      code: 'UUID_INVALID',
      params: ['VM', hostUuid],
    })
    await expect(call('host.get_by_uuid', hostUuid)).resolves.toBe(host[0])
  })

  it('MAP_DUPLICATE_KEY [class, field, ref, key]; removing an absent key succeeds; sets ignore duplicates', async () => {
    const vm = await vmRef('web-01')
    await call('VM.add_to_other_config', vm, 'k', 'v')
    await expect(call('VM.add_to_other_config', vm, 'k', 'w')).rejects.toMatchObject({
      code: 'MAP_DUPLICATE_KEY',
      params: ['VM', 'other_config', vm, 'k'],
    })
    await call('VM.remove_from_other_config', vm, 'k')
    await call('VM.remove_from_other_config', vm, 'k')
    await call('VM.add_tags', vm, 'prod')
    expect(await call('VM.get_tags', vm)).toEqual(['prod'])
  })

  it('INTERNAL_ERROR naming the parameter for a value of the wrong type', async () => {
    const vm = await vmRef('legacy-app')
    await expect(call('VM.set_memory_limits', vm, 'lots', 1, 1, 1)).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
      params: ['Invalid value for parameter static_min of VM.set_memory_limits: expected int, got "lots"'],
    })
    await expect(call('VM.create', { name_label: 'incomplete' })).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
      params: [expect.stringMatching(/^Server_helpers\.Dispatcher_FieldNotFound\("/)],
    })
  })

  it('never repeats a password or a secret value in an error', async () => {
    const login = await rawCall(sim, 'session.login_with_password', ['root', 987654321]).catch((e: unknown) => e)
    expect(login).toMatchObject({ code: 'INTERNAL_ERROR' })
    expect(JSON.stringify(login)).not.toContain('987654321')
    const secret = await call('secret.create', { value: 123456789, other_config: {} }).catch((e: unknown) => e)
    expect(secret).toMatchObject({ code: 'INTERNAL_ERROR' })
    expect(JSON.stringify(secret)).not.toContain('123456789')
  })

  it('refuses setters of read-only fields as unknown methods', async () => {
    const vm = await vmRef('web-01')
    await expect(call('VM.set_power_state', vm, 'Halted')).rejects.toMatchObject({ code: 'MESSAGE_METHOD_UNKNOWN' })
    await expect(call('VM.set_VBDs', vm, [])).rejects.toMatchObject({ code: 'MESSAGE_METHOD_UNKNOWN' })
  })
})

describe('login', () => {
  it('accepts 2 to 4 arguments and refuses a bad password with SESSION_AUTHENTICATION_FAILED [user, message]', async () => {
    await expect(rawCall(sim, 'session.login_with_password', ['root', sim.password, '1.1', 'tests'])).resolves.toMatch(
      /^OpaqueRef:/,
    )
    await expect(rawCall(sim, 'session.login_with_password', ['root', 'wrong'])).rejects.toMatchObject({
      code: 'SESSION_AUTHENTICATION_FAILED',
      params: ['root', 'Authentication failure'],
    })
    await expect(rawCall(sim, 'session.login_with_password', ['admin', sim.password])).rejects.toMatchObject({
      code: 'SESSION_AUTHENTICATION_FAILED',
      params: ['admin', 'Authentication failure'],
    })
  })

  it('gives a session whose host is the master', async () => {
    const other = await rawLogin(sim)
    expect(await rawCall(sim, 'session.get_this_host', [other, other])).toBe(sim.core.masterRef())
    expect(await rawCall(sim, 'session.get_uuid', [other, other])).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('makes the xen-api client fail to connect with a wrong password', async () => {
    const { createClient } = await import('xen-api')
    const xapi = createClient({ url: sim.url, auth: { user: 'root', password: 'nope' }, watchEvents: false })
    await expect(xapi.connect()).rejects.toMatchObject({ code: 'SESSION_AUTHENTICATION_FAILED' })
  })
})

describe('VM operation checks', () => {
  it('VM_BAD_POWER_STATE [vm, expected, actual] in lowercase', async () => {
    const vm = await vmRef('web-01')
    await expect(call('VM.start', vm, false, false)).rejects.toMatchObject({
      code: 'VM_BAD_POWER_STATE',
      params: [vm, 'halted', 'running'],
    })
    const halted = await vmRef('legacy-app')
    await expect(call('VM.clean_shutdown', halted)).rejects.toMatchObject({ params: [halted, 'running', 'halted'] })
    await expect(call('VM.hard_shutdown', halted)).rejects.toMatchObject({
      params: [halted, 'paused, suspended, running', 'halted'],
    })
  })

  it('OPERATION_BLOCKED [vm, reason] before the power state', async () => {
    const vm = await vmRef('web-01')
    await call('VM.add_to_blocked_operations', vm, 'start', 'replica: do not start')
    await expect(call('VM.start', vm, false, false)).rejects.toMatchObject({
      code: 'OPERATION_BLOCKED',
      params: [vm, 'replica: do not start'],
    })
    expect(await call('VM.get_allowed_operations', vm)).not.toContain('start')
    await call('VM.remove_from_blocked_operations', vm, 'start')
  })

  it('VM_IS_TEMPLATE [vm, op] and VM_IS_SNAPSHOT [vm, op]', async () => {
    const [template] = (await call('VM.get_by_name_label', 'Debian Bookworm 12')) as string[]
    await expect(call('VM.start', template, false, false)).rejects.toMatchObject({
      code: 'VM_IS_TEMPLATE',
      params: [template, 'start'],
    })
    await expect(call('VM.destroy', template)).rejects.toMatchObject({
      code: 'VM_IS_TEMPLATE',
      params: [template, 'destroy'],
    })
    const snapshot = await vmRef('legacy-app')
    // VM.snapshot comes with the storage integration: mark a halted VM as a snapshot to check the rule.
    sim.core.db.update('VM', snapshot, { is_a_snapshot: true, is_a_template: true })
    await expect(call('VM.start', snapshot, false, false)).rejects.toMatchObject({
      code: 'VM_IS_SNAPSHOT',
      params: [snapshot, 'start'],
    })
    sim.core.db.update('VM', snapshot, { is_a_snapshot: false, is_a_template: false })
  })

  it('OTHER_OPERATION_IN_PROGRESS [VM, vm, op, task] while another operation runs', async () => {
    const vm = await vmRef('legacy-app')
    const rule = await sim.control.addFault({ method: 'VM.start', action: { kind: 'stuck' } })
    const task = (await call('Async.VM.start', vm, false, false)) as string
    await new Promise((resolve) => setTimeout(resolve, 50))
    await expect(call('VM.destroy', vm)).rejects.toMatchObject({
      code: 'OTHER_OPERATION_IN_PROGRESS',
      params: ['VM', vm, 'start', task],
    })
    await sim.control.releaseStuck(rule)
    await sim.control.removeFault(rule)
  })

  it('OPERATION_NOT_ALLOWED on the control domain', async () => {
    const xapi = await connectedClient(sim)
    const dom0 = Object.values(xapi.objects.indexes.type.VM!).find((vm) => vm.is_control_domain === true)!
    // The power state is checked first, as in XAPI: a running dom0 cannot be destroyed anyway.
    await expect(call('VM.destroy', dom0.$ref)).rejects.toMatchObject({
      code: 'VM_BAD_POWER_STATE',
      params: [dom0.$ref, 'halted, suspended', 'running'],
    })
    await expect(call('VM.set_VCPUs_max', dom0.$ref, 4)).rejects.toMatchObject({
      code: 'OPERATION_NOT_ALLOWED',
      params: ['This operation is not allowed on dom0'],
    })
    await expect(call('VM.clean_shutdown', dom0.$ref)).rejects.toMatchObject({
      code: 'OPERATION_NOT_ALLOWED',
      params: ['This operation is not allowed on a control domain'],
    })
  })
})
