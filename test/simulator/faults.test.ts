import { afterEach, describe, expect, it, vi } from 'vitest'
import { SimulatorControlClient, SimulatorControlError } from '../../simulator'
import {
  cached,
  connectClient,
  connectedClient,
  eventually,
  findByName,
  rawCall,
  rawLogin,
  startTestSimulator,
  stopAll,
} from './helpers'

afterEach(stopAll)

describe('scripted XAPI errors', () => {
  it('hit the nth matching call, `times` times, then stop', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'web-01')
    const rule = await sim.control.addFault({
      method: 'VM.add_tags',
      nth: 2,
      times: 2,
      action: { kind: 'error', code: 'LICENSE_RESTRICTION', params: ['tags'] },
    })
    const outcomes: string[] = []
    for (let i = 0; i < 5; i++) {
      outcomes.push(
        await xapi.call('VM.add_tags', vm.$ref, `t${i}`).then(
          () => 'ok',
          (e: { code: string; params: string[] }) => `${e.code}(${e.params.join()})`,
        ),
      )
    }
    expect(outcomes).toEqual(['ok', 'LICENSE_RESTRICTION(tags)', 'LICENSE_RESTRICTION(tags)', 'ok', 'ok'])
    expect(await sim.control.listFaults()).toMatchObject([{ id: rule, seen: 5, hits: 2 }])
  })

  it('can aim at one object only, and land in the task of an Async call', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const legacy = findByName(xapi, 'VM', 'legacy-app')
    const web = findByName(xapi, 'VM', 'web-01')
    await sim.control.addFault({
      method: 'VM.clean_shutdown',
      objectRef: web.$ref,
      times: 'always',
      action: { kind: 'error', code: 'VM_LACKS_FEATURE', params: [web.$ref] },
    })
    await expect(xapi.callAsync('VM.clean_shutdown', web.$ref)).rejects.toMatchObject({
      code: 'VM_LACKS_FEATURE',
      params: [web.$ref],
    })
    await xapi.callAsync('VM.start', legacy.$ref, false, false)
    await expect(xapi.callAsync('VM.clean_shutdown', legacy.$ref)).resolves.toBe('')
  })

  it('answers TOO_MANY_PENDING_TASKS to Async calls when asked to', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    await sim.control.addFault({
      method: 'Async.*',
      errorIn: 'response',
      action: { kind: 'error', code: 'TOO_MANY_PENDING_TASKS' },
    })
    const [vm] = (await rawCall(sim, 'VM.get_by_name_label', [session, 'legacy-app'])) as string[]
    await expect(rawCall(sim, 'Async.VM.start', [session, vm, false, false])).rejects.toMatchObject({
      code: 'TOO_MANY_PENDING_TASKS',
      params: [],
    })
    expect(sim.core.db.count('task')).toBe(0)
    // The synchronous form is not an Async call.
    await expect(rawCall(sim, 'VM.start', [session, vm, false, false])).resolves.toBe('')
  })
})

describe('the xen-api client recovers', () => {
  it('logs in again after SESSION_INVALID on a call, and the call succeeds', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'web-01')
    const before = xapi.sessionId
    await sim.control.addFault({ method: 'VM.add_tags', action: { kind: 'sessionInvalid' } })
    await xapi.call('VM.add_tags', vm.$ref, 'after-relogin')
    expect(xapi.sessionId).not.toBe(before)
    expect(sim.core.sessions.find(before!)).toBeUndefined()
    expect(sim.core.db.get('VM', vm.$ref).tags).toContain('after-relogin')
  })

  it('restarts its event loop after SESSION_INVALID on event.from, and still sees changes', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const session = await rawLogin(sim)
    const vm = findByName(xapi, 'VM', 'legacy-app')
    const injected = sim.core.probe.stats('event.inject').calls
    const rule = await sim.control.addFault({ method: 'event.from', action: { kind: 'sessionInvalid' } })
    // The client starts over: log in again, event.inject, get_all_records, event.from.
    await eventually(() => sim.core.probe.stats('event.inject').calls > injected, 5000, 'a new event.inject')
    expect((await sim.control.listFaults()).find((f) => f.id === rule)?.hits).toBe(1)
    await rawCall(sim, 'VM.set_name_description', [session, vm.$ref, 'seen after the restart'])
    await eventually(
      () => xapi.getObjectByRef(vm.$ref).name_description === 'seen after the restart',
      5000,
      'the change',
    )
  })

  it('follows HOST_IS_SLAVE to the master address', async () => {
    const sim = await startTestSimulator()
    await sim.control.setHostIsSlave('127.0.0.1')
    const xapi = connectClient(sim, { url: `http://localhost:${sim.port}` })
    await xapi.connect()
    await xapi.objectsFetched
    expect(cached(xapi, 'VM').length).toBeGreaterThan(0)
    const refused = await rawCall(sim, 'session.login_with_password', ['root', sim.password]).then(
      () => 'logged in',
      (e: { code: string; params: string[] }) => `${e.code}(${e.params.join()})`,
    )
    // rawCall goes to 127.0.0.1, the master address: accepted.
    expect(refused).toBe('logged in')
    const viaLocalhost = await fetch(`http://localhost:${sim.port}/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'session.login_with_password',
        params: ['root', sim.password],
      }),
    }).then((r) => r.json())
    expect(viaLocalhost).toMatchObject({ error: { message: 'HOST_IS_SLAVE', data: ['127.0.0.1'] } })
  })

  it('survives a simulated XAPI restart: new pool ref, listMethods read again, events flowing', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    // After logging in again, the client's event loop first injects with the pool ref it had: it is
    // told HANDLE_INVALID, warns, waits eventPollDelay and starts over with the new one.
    const warnings = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const vm = findByName(xapi, 'VM', 'web-01')
    const oldPool = xapi.pool.$ref
    const listed = sim.core.probe.stats('system.listMethods').calls
    const { poolRef } = await sim.control.restartXapi()
    expect(poolRef).not.toBe(oldPool)
    await eventually(() => xapi.pool.$ref === poolRef, 10_000, 'the new pool ref in the client')
    await eventually(() => sim.core.probe.stats('system.listMethods').calls === listed + 1, 5000, 'system.listMethods')
    expect(xapi.pool.uuid).toBe(sim.core.db.get('pool', poolRef).uuid)
    await xapi.call('VM.add_tags', vm.$ref, 'after-restart')
    await eventually(
      () => (xapi.getObjectByRef(vm.$ref).tags as string[]).includes('after-restart'),
      5000,
      'the change',
    )
    const handleInvalid = warnings.mock.calls.some(
      ([, error]) => (error as { code?: string })?.code === 'HANDLE_INVALID',
    )
    warnings.mockRestore()
    expect(handleInvalid).toBe(true)
  })
})

describe('connection and timing faults', () => {
  it('cut the connection: read-only calls are retried by the client, others fail', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'web-01')
    await sim.control.addFault({ method: 'VM.get_name_label', action: { kind: 'cutConnection' } })
    await expect(xapi.call('VM.get_name_label', vm.$ref)).resolves.toBe('web-01')
    expect(sim.core.probe.stats('VM.get_name_label').calls).toBe(1)
    await sim.control.addFault({ method: 'VM.add_tags', action: { kind: 'cutConnection' } })
    await expect(xapi.call('VM.add_tags', vm.$ref, 'lost')).rejects.toThrow()
    expect(sim.core.db.get('VM', vm.$ref).tags).not.toContain('lost')
  })

  it('slow and stuck tasks stay pending until the delay passes or they are released', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'legacy-app')
    await sim.control.addFault({ method: 'VM.start', delayMs: 300, action: { kind: 'delay' } })
    const started = Date.now()
    await xapi.callAsync('VM.start', vm.$ref, false, false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)

    const stuck = await sim.control.addFault({ method: 'VM.clean_shutdown', action: { kind: 'stuck' } })
    let settled = false
    const stopping = xapi.callAsync('VM.clean_shutdown', vm.$ref).then(() => {
      settled = true
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(settled).toBe(false)
    expect((await sim.control.info()).stuckCalls).toBe(1)
    expect(await sim.control.releaseStuck(stuck)).toBe(1)
    await stopping
    expect(sim.core.db.get('VM', vm.$ref).power_state).toBe('Halted')
  })
})

describe('the operation probe', () => {
  it('records calls, operations in flight and the peak concurrency per method', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const names = ['legacy-app', 'web-01', 'db-01']
    await xapi.callAsync('VM.start', findByName(xapi, 'VM', 'legacy-app').$ref, false, false)
    await sim.control.resetOperationStats()
    const rule = await sim.control.addFault({ method: 'VM.clean_shutdown', times: 'always', action: { kind: 'stuck' } })
    const shutdowns = names.map((name) => xapi.callAsync('VM.clean_shutdown', findByName(xapi, 'VM', name).$ref))
    await eventually(() => sim.core.probe.stats('VM.clean_shutdown').inFlight === 3, 5000)
    await sim.control.releaseStuck(rule)
    await Promise.all(shutdowns)
    expect((await sim.control.operationStats())['VM.clean_shutdown']).toEqual({ calls: 3, inFlight: 0, peak: 3 })
  })
})

describe('the control API over HTTP', () => {
  it('needs the root password or a session, validates rules, and drives the same registry', async () => {
    const sim = await startTestSimulator()
    const refused = new SimulatorControlClient(sim.url, { password: 'wrong' })
    await expect(refused.info()).rejects.toMatchObject({ status: 401 })
    const client = new SimulatorControlClient(sim.url, { password: sim.password })
    expect(await client.info()).toMatchObject({ poolRef: sim.core.poolRef(), masterRef: sim.core.masterRef() })
    const bad = await client
      .addFault({ method: 'VM.start', action: { kind: 'explode' } } as never)
      .catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(SimulatorControlError)
    expect((bad as SimulatorControlError).message).toMatch(/^action\.kind: /)
    const id = await client.addFault({ method: 'VM.start', action: { kind: 'error', code: 'X' } })
    expect(await client.listFaults()).toMatchObject([{ id, rule: { method: 'VM.start', nth: 1, times: 1 } }])
    expect(await client.removeFault(id)).toBe(true)
    const session = await rawLogin(sim)
    const bySession = new SimulatorControlClient(sim.url, { sessionId: session })
    expect(await bySession.invalidateSessions(session)).toBe(1)
    await expect(bySession.info()).rejects.toMatchObject({ status: 401 })
    await client.setHostIsSlave('10.0.0.1')
    expect(sim.core.modes.hostIsSlave).toEqual({ masterAddress: '10.0.0.1' })
    await client.setHostIsSlave(undefined)
    expect((await client.restartXapi()).poolRef).toBe(sim.core.poolRef())
  })
})
