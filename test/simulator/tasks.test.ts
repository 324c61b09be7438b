import { afterEach, describe, expect, it } from 'vitest'
import {
  cached,
  connectedClient,
  eventually,
  findByName,
  rawCall,
  rawLogin,
  startTestSimulator,
  stopAll,
} from './helpers'

afterEach(stopAll)

describe('Async calls and tasks', () => {
  it('run through a task whose result is an XML-RPC value fragment, decoded by callAsync', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const pool = xapi.pool
    const blob = await xapi.callAsync<string>('pool.create_new_blob', pool.$ref, 'notes', 'text/plain')
    expect(blob).toMatch(/^OpaqueRef:[0-9a-f-]{36}$/)
    await eventually(() => (xapi.pool.blobs as Record<string, string>).notes === blob, 5000, 'pool.blobs')

    // The raw task, over JSON-RPC too, carries the fragment; void results are an empty value.
    const session = await rawLogin(sim)
    const task = (await rawCall(sim, 'Async.pool.create_new_blob', [
      session,
      pool.$ref,
      'more',
      'text/plain',
    ])) as string
    await eventually(() => sim.core.db.get('task', task).status !== 'pending')
    const record = (await rawCall(sim, 'task.get_record', [session, task])) as Record<string, unknown>
    expect(record).toMatchObject({
      status: 'success',
      progress: 1,
      name_label: 'Async.pool.create_new_blob',
      type: '<none/>',
    })
    expect(record.result).toMatch(/^<value>OpaqueRef:[0-9a-f-]{36}<\/value>$/)
    expect(record.finished).not.toBe('19700101T00:00:00Z')
    const vm = ((await rawCall(sim, 'VM.get_by_name_label', [session, 'legacy-app'])) as string[])[0]!
    const startTask = (await rawCall(sim, 'Async.VM.start', [session, vm, false, false])) as string
    await eventually(() => sim.core.db.get('task', startTask).status !== 'pending')
    expect(sim.core.db.get('task', startTask).result).toBe('<value></value>')
  })

  it('reject with the operation error code and params when the task fails', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'web-01')
    const error = await xapi.callAsync('VM.start', vm.$ref, false, false).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'VM_BAD_POWER_STATE', params: [vm.$ref, 'halted', 'running'] })
    expect((error as { task: { status: string; error_info: string[] } }).task).toMatchObject({
      status: 'failure',
      error_info: ['VM_BAD_POWER_STATE', vm.$ref, 'halted', 'running'],
    })
  })

  it('are cancelled through task.cancel when the caller cancels', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'legacy-app')
    await sim.control.addFault({ method: 'VM.start', action: { kind: 'stuck' } })
    const { CancelToken } = await import('promise-toolbox')
    const { cancel, token } = CancelToken.source()
    const started = (xapi.callAsync as (...args: unknown[]) => Promise<unknown>)(
      token,
      'VM.start',
      vm.$ref,
      false,
      false,
    )
    await eventually(
      () =>
        (sim.core.db.get('VM', vm.$ref).current_operations as object) !== undefined &&
        Object.values(sim.core.db.get('VM', vm.$ref).current_operations as object).includes('start'),
      5000,
      'the start in progress',
    )
    const [taskRef] = Object.keys(sim.core.db.get('VM', vm.$ref).current_operations as object)
    expect(sim.core.db.get('task', taskRef!).allowed_operations).toEqual(['cancel'])
    cancel()
    await expect(started).rejects.toMatchObject({ message: 'task canceled' })
    expect(sim.core.db.get('VM', vm.$ref)).toMatchObject({ power_state: 'Halted', current_operations: {} })
    // The client destroys the settled task.
    await eventually(() => !sim.core.db.exists('task', taskRef!), 5000, 'the task destruction')
  })

  it('end cancelled, with progress 1 and nothing else changed, when task.cancel reaches the operation', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const vm = ((await rawCall(sim, 'VM.get_by_name_label', [session, 'legacy-app'])) as string[])[0]!
    await sim.control.addFault({ method: 'VM.start', action: { kind: 'stuck' } })
    const task = (await rawCall(sim, 'Async.VM.start', [session, vm, false, false])) as string
    await eventually(() => sim.core.faults.stuckCount === 1, 5000, 'the stall')
    await rawCall(sim, 'task.cancel', [session, task])
    await eventually(() => sim.core.db.get('task', task).status !== 'pending', 5000, 'the cancellation')
    expect(sim.core.db.get('task', task)).toMatchObject({
      status: 'cancelled',
      progress: 1,
      allowed_operations: [],
      error_info: [],
    })
    expect(Object.values(sim.core.db.get('task', task).current_operations as object)).toEqual(['cancel'])
    expect(sim.core.db.get('VM', vm)).toMatchObject({ power_state: 'Halted', current_operations: {} })
  })

  it('report the operation in current_operations while it runs, keyed by the task', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'legacy-app')
    const rule = await sim.control.addFault({ method: 'VM.start', action: { kind: 'stuck' } })
    const started = xapi.callAsync('VM.start', vm.$ref, false, false)
    await eventually(
      () => Object.keys(xapi.getObjectByRef(vm.$ref).current_operations as object).length === 1,
      5000,
      'the operation in the cache',
    )
    const cachedVm = xapi.getObjectByRef(vm.$ref)
    const [[taskRef, op]] = Object.entries(cachedVm.current_operations as Record<string, string>) as [[string, string]]
    expect(op).toBe('start')
    expect(cached(xapi, 'task').find((t) => t.$ref === taskRef)).toMatchObject({
      name_label: 'Async.VM.start',
      status: 'pending',
    })
    expect(cachedVm.allowed_operations).not.toContain('start')
    expect(await sim.control.releaseStuck(rule)).toBe(1)
    await started
    await eventually(() => xapi.getObjectByRef(vm.$ref).power_state === 'Running', 5000)
    expect(xapi.getObjectByRef(vm.$ref).current_operations).toEqual({})
  })

  it('that are destroyed while pending are marked, then deleted when they complete', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const vm = ((await rawCall(sim, 'VM.get_by_name_label', [session, 'legacy-app'])) as string[])[0]!
    const rule = await sim.control.addFault({ method: 'VM.start', action: { kind: 'stuck' } })
    const task = (await rawCall(sim, 'Async.VM.start', [session, vm, false, false])) as string
    await rawCall(sim, 'task.destroy', [session, task])
    expect(await rawCall(sim, 'task.get_current_operations', [session, task])).toEqual({ task: 'destroy' })
    await sim.control.releaseStuck(rule)
    await eventually(() => !sim.core.db.exists('task', task), 5000, 'the deletion')
    await expect(rawCall(sim, 'task.get_status', [session, task])).rejects.toMatchObject({
      code: 'HANDLE_INVALID',
      params: ['task', task],
    })
    expect(sim.core.db.get('VM', vm).power_state).toBe('Running')
  })

  it('can be created and driven by the client (task.create, set_progress, set_status, other_config)', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const task = await xapi.call<string>('task.create', 'Import VM', 'from backup')
    expect(sim.core.db.get('task', task)).toMatchObject({
      name_label: 'Import VM',
      name_description: 'from backup',
      status: 'pending',
      progress: 0,
      subtask_of: 'OpaqueRef:NULL',
      result: '',
      error_info: [],
      backtrace: '()',
      resident_on: sim.core.masterRef(),
    })
    await xapi.call('task.set_progress', task, 0.25)
    await xapi.call('task.add_to_other_config', task, 'xo:import', 'yes')
    await xapi.call('task.set_result', task, '<value>done</value>')
    await xapi.call('task.set_error_info', task, ['X'])
    const watched = xapi.watchTask(task)
    await xapi.call('task.set_status', task, 'success')
    await expect(watched).resolves.toBe('done')
    expect(sim.core.db.get('task', task)).toMatchObject({ progress: 0.25, other_config: { 'xo:import': 'yes' } })
  })

  it('answer Fault for methods without an async form', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const [vm] = (await rawCall(sim, 'VM.get_all', [session])) as string[]
    await expect(rawCall(sim, 'Async.VM.get_record', [session, vm])).rejects.toMatchObject({
      code: 'Fault',
      params: ['No async mode for this operation (rpc: VM.get_record)'],
    })
    await expect(rawCall(sim, 'Async.task.create', [session, 'x', ''])).rejects.toMatchObject({ code: 'Fault' })
  })
})
