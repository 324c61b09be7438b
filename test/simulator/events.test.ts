import { afterEach, describe, expect, it } from 'vitest'
import type { RunningSimulator } from '../../simulator'
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

interface EventBatch {
  events: {
    id: string
    timestamp: string
    class: string
    operation: string
    ref: string
    snapshot?: Record<string, unknown>
  }[]
  valid_ref_counts: Record<string, number>
  token: string
}

async function eventFrom(sim: RunningSimulator, session: string, classes: string[], token: string, timeout = 0.05) {
  return (await rawCall(sim, 'event.from', [session, classes, token, timeout])) as EventBatch
}

async function currentToken(sim: RunningSimulator, session: string): Promise<string> {
  return (await eventFrom(sim, session, ['pool'], '', 0)).token
}

describe('the client cache', () => {
  it('shows changes another client makes, through event.from', async () => {
    const sim = await startTestSimulator()
    const watcher = await connectedClient(sim)
    const actor = await connectedClient(sim)
    const vm = findByName(actor, 'VM', 'legacy-app')
    await actor.call('VM.set_name_label', vm.$ref, 'legacy-app (renamed)')
    await actor.call('VM.add_tags', vm.$ref, 'to-retire')
    await eventually(() => watcher.getObjectByRef(vm.$ref).name_label === 'legacy-app (renamed)', 5000, 'the rename')
    await eventually(() => (watcher.getObjectByRef(vm.$ref).tags as string[]).includes('to-retire'), 5000, 'the tag')
    expect(watcher.getObjectByRef(vm.$ref).tags).toEqual(['prod', 'to-retire'])

    await actor.callAsync('VM.start', vm.$ref, false, false)
    await eventually(() => watcher.getObjectByRef(vm.$ref).power_state === 'Running', 5000, 'the start')
    const host = watcher.getObjectByRef(String(watcher.getObjectByRef(vm.$ref).resident_on))
    await eventually(() => (host.$xapi.getObjectByRef(host.$ref).resident_VMs as string[]).includes(vm.$ref))
  })

  it('updates both ends of a relationship when a VBD is created and destroyed', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const vm = findByName(xapi, 'VM', 'legacy-app')
    const vdi = findByName(xapi, 'VDI', 'web-01 root')
    const vbd = await xapi.call<string>('VBD.create', {
      VM: vm.$ref,
      VDI: vdi.$ref,
      userdevice: 'autodetect',
      bootable: false,
      mode: 'RO',
      type: 'Disk',
      empty: false,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    })
    await eventually(() => (xapi.getObjectByRef(vm.$ref).VBDs as string[]).includes(vbd), 5000, 'VM.VBDs')
    await eventually(() => (xapi.getObjectByRef(vdi.$ref).VBDs as string[]).includes(vbd), 5000, 'VDI.VBDs')
    expect(xapi.getObjectByRef(vbd).userdevice).toBe('1')
    await xapi.call('VBD.destroy', vbd)
    await eventually(
      () => !(xapi.getObjectByRef(vm.$ref).VBDs as string[]).includes(vbd),
      5000,
      'VM.VBDs after destroy',
    )
    await eventually(() => xapi.getObjectByRef(vbd, null) === null, 5000, 'the VBD removal')
    expect(xapi.getObjectByRef(vdi.$ref).VBDs).toEqual(vdi.VBDs)
  })

  it('passes barrier(): the pool event carrying the barrier key arrives', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    await xapi.barrier()
    await xapi.barrier()
    const keys = Object.keys(xapi.pool.other_config as object).filter((key) => key.startsWith('xo:barrier:'))
    await eventually(
      () => Object.keys(xapi.pool.other_config as object).filter((k) => k.startsWith('xo:barrier:')).length === 0,
    )
    expect(keys.length).toBeLessThanOrEqual(2)
  })
})

describe('event.from', () => {
  it('returns coalesced add, mod and del events with full snapshots, since a token', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const vm = ((await rawCall(sim, 'VM.get_by_name_label', [session, 'legacy-app'])) as string[])[0]!
    const oldTask = (await rawCall(sim, 'task.create', [session, 'old', ''])) as string
    await rawCall(sim, 'task.set_status', [session, oldTask, 'success'])
    const token = await currentToken(sim, session)

    await rawCall(sim, 'VM.set_name_description', [session, vm, 'first'])
    await rawCall(sim, 'VM.set_name_description', [session, vm, 'second'])
    const created = (await rawCall(sim, 'task.create', [session, 'new', ''])) as string
    await rawCall(sim, 'task.set_progress', [session, created, 0.5])
    const ephemeral = (await rawCall(sim, 'task.create', [session, 'short-lived', ''])) as string
    await rawCall(sim, 'task.set_status', [session, ephemeral, 'failure'])
    await rawCall(sim, 'task.destroy', [session, ephemeral])
    await rawCall(sim, 'task.destroy', [session, oldTask])

    const batch = await eventFrom(sim, session, ['vm', 'TASK'], token)
    const byRef = new Map(batch.events.map((event) => [event.ref, event]))
    expect(batch.events.filter((event) => event.ref === vm)).toHaveLength(1)
    expect(byRef.get(vm)).toMatchObject({ class: 'vm', operation: 'mod', timestamp: '0.0' })
    expect(byRef.get(vm)?.snapshot?.name_description).toBe('second')
    expect(byRef.get(created)).toMatchObject({ class: 'task', operation: 'add' })
    expect(byRef.get(created)?.snapshot?.progress).toBe(0.5)
    expect(byRef.get(oldTask)).toMatchObject({ class: 'task', operation: 'del' })
    expect(byRef.get(oldTask)?.snapshot).toBeUndefined()
    // Created and destroyed since the token: nothing to report.
    expect(byRef.has(ephemeral)).toBe(false)
    for (const event of batch.events) expect(event.id).toMatch(/^[0-9]+$/)
    expect(batch.token).toMatch(/^[0-9]{20},[0-9]{20}$/)
    expect(batch.token > token).toBe(true)
  })

  it('counts the objects of every class in valid_ref_counts, task included', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    await rawCall(sim, 'task.create', [session, 'counted', ''])
    const batch = await eventFrom(sim, session, ['*'], '', 0)
    expect(batch.valid_ref_counts.task).toBe(1)
    expect(batch.valid_ref_counts.vm).toBe(sim.core.db.count('VM'))
    expect(batch.valid_ref_counts.host).toBe(2)
    expect(batch.valid_ref_counts.session).toBe(1)
    expect(Object.keys(batch.valid_ref_counts)).toContain('vm_guest_metrics')
    // With the empty token, everything is an `add`.
    expect(batch.events.every((event) => event.operation === 'add')).toBe(true)
    expect(batch.events.filter((event) => event.class === 'vm')).toHaveLength(sim.core.db.count('VM'))
  })

  it('filters by class and by object (`vm/<ref>`)', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const [a] = (await rawCall(sim, 'VM.get_by_name_label', [session, 'web-01'])) as string[]
    const [b] = (await rawCall(sim, 'VM.get_by_name_label', [session, 'db-01'])) as string[]
    const token = await currentToken(sim, session)
    await rawCall(sim, 'VM.add_tags', [session, a, 'x'])
    await rawCall(sim, 'VM.add_tags', [session, b, 'y'])
    await rawCall(sim, 'task.create', [session, 't', ''])
    const one = await eventFrom(sim, session, [`VM/${b}`], token)
    expect(one.events.map((event) => event.ref)).toEqual([b])
    const tasks = await eventFrom(sim, session, ['task'], token)
    expect(tasks.events.map((event) => event.class)).toEqual(['task'])
  })

  it('waits for a change until the timeout, then answers with no events', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const [vm] = (await rawCall(sim, 'VM.get_by_name_label', [session, 'web-01'])) as string[]
    const token = await currentToken(sim, session)
    const started = Date.now()
    const empty = await eventFrom(sim, session, ['vm'], token, 0.3)
    expect(empty.events).toEqual([])
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)

    const waiting = eventFrom(sim, session, ['vm'], empty.token, 30)
    await new Promise((resolve) => setTimeout(resolve, 100))
    await rawCall(sim, 'VM.set_name_description', [session, vm, 'woken'])
    const batch = await waiting
    expect(batch.events.map((event) => event.snapshot?.name_description)).toEqual(['woken'])
    // Changes to unwatched classes do not wake it.
    const quiet = eventFrom(sim, session, ['vm'], batch.token, 0.4)
    await rawCall(sim, 'task.create', [session, 'unrelated', ''])
    expect((await quiet).events).toEqual([])
  })

  it('emits message events as add and del only', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const [vm] = (await rawCall(sim, 'VM.get_by_name_label', [session, 'web-01'])) as string[]
    const uuid = await rawCall(sim, 'VM.get_uuid', [session, vm])
    const token = await currentToken(sim, session)
    const message = (await rawCall(sim, 'message.create', [session, 'BACKUP_DONE', 5, 'VM', uuid, 'ok'])) as string
    const added = await eventFrom(sim, session, ['message'], token)
    expect(added.events).toMatchObject([
      {
        class: 'message',
        operation: 'add',
        ref: message,
        snapshot: { name: 'BACKUP_DONE', priority: 5, cls: 'VM', obj_uuid: uuid, body: 'ok' },
      },
    ])
    await rawCall(sim, 'message.destroy', [session, message])
    const deleted = await eventFrom(sim, session, ['message'], added.token)
    expect(deleted.events).toMatchObject([{ class: 'message', operation: 'del', ref: message }])
    expect(added.valid_ref_counts.message).toBeUndefined()
  })

  it('rejects a bad token and a token older than the remembered deletions', async () => {
    const sim = await startTestSimulator({ maxTombstones: 2 })
    const session = await rawLogin(sim)
    await expect(eventFrom(sim, session, ['vm'], 'not-a-token')).rejects.toMatchObject({
      code: 'EVENT_FROM_TOKEN_PARSE_FAILURE',
      params: ['not-a-token'],
    })
    const [vm] = (await rawCall(sim, 'VM.get_by_name_label', [session, 'web-01'])) as string[]
    const uuid = await rawCall(sim, 'VM.get_uuid', [session, vm])
    const token = await currentToken(sim, session)
    const deleteOneMessage = async () => {
      const message = await rawCall(sim, 'message.create', [session, 'M', 1, 'VM', uuid, ''])
      await rawCall(sim, 'message.destroy', [session, message])
    }
    await deleteOneMessage()
    await deleteOneMessage()
    // Two deletions are remembered: the token still works.
    expect((await eventFrom(sim, session, ['vm'], token)).events).toEqual([])
    await deleteOneMessage()
    await expect(eventFrom(sim, session, ['vm'], token)).rejects.toMatchObject({ code: 'EVENTS_LOST', params: [] })
  })

  it('fails a waiting call with SESSION_INVALID when its session ends', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const token = await currentToken(sim, session)
    const waiting = eventFrom(sim, session, ['vm'], token, 30).catch((error: unknown) => error)
    await new Promise((resolve) => setTimeout(resolve, 100))
    await rawCall(sim, 'session.logout', [session])
    expect(await waiting).toMatchObject({ code: 'SESSION_INVALID', params: [session] })
  })
})

describe('event.inject', () => {
  it('returns a token before a mod of the object, and HANDLE_INVALID for a ref of another class', async () => {
    const sim = await startTestSimulator()
    const session = await rawLogin(sim)
    const [pool] = (await rawCall(sim, 'pool.get_all', [session])) as string[]
    const token = (await rawCall(sim, 'event.inject', [session, 'pool', pool])) as string
    const batch = await eventFrom(sim, session, ['pool'], token)
    expect(batch.events).toMatchObject([{ class: 'pool', operation: 'mod', ref: pool }])
    await expect(rawCall(sim, 'event.inject', [session, 'VM', pool])).rejects.toMatchObject({
      code: 'HANDLE_INVALID',
      params: ['VM', pool],
    })
  })
})

describe('tasks in the cache', () => {
  it('are counted so that the client notices tasks disappearing', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const task = await xapi.call<string>('task.create', 'visible', '')
    await eventually(() => cached(xapi, 'task').some((t) => t.$ref === task), 5000, 'the task add event')
    sim.core.db.destroy('task', task)
    await eventually(() => !cached(xapi, 'task').some((t) => t.$ref === task), 5000, 'the task removal')
  })
})
