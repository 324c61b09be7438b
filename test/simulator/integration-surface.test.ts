import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { readTextBody } from '../../simulator/http/body'
import { handlerSession, handlerTaskRef, matchHandlerFault, runHandlerTask } from '../../simulator/http/handler-task'
import { defineMethod } from '../../simulator/rpc/method'
import { runSubtask } from '../../simulator/tasks/subtask'
import { connectedClient, eventually, findByName, startTestSimulator, stopAll } from './helpers'

afterEach(stopAll)

/**
 * The places the storage integration plugs into: HTTP handlers registered on the router, running
 * under the caller's task; methods registered on the registry, with subtasks and checkpoints.
 */
describe('HTTP handlers', () => {
  it('route by longest prefix and complete the caller task the xen-api client watches', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const served: string[] = []
    for (const prefix of ['/exp', '/exp_raw']) {
      sim.router.register('GET', prefix, async (request, response, url) => {
        served.push(`${prefix} ${url.pathname}`)
        const session = handlerSession(sim.core, request, url)
        if (session === undefined) {
          response.writeHead(401).end()
          return
        }
        const task = handlerTaskRef(sim.core, url, `export ${url.pathname}`)
        const fault = matchHandlerFault(sim.core, prefix, [url.searchParams.get('vdi') ?? ''])
        response.writeHead(200, { 'task-id': task, 'content-type': 'application/octet-stream' })
        await runHandlerTask(
          sim.core,
          task,
          session,
          async (ctx) => {
            ctx.task?.setProgress(0.5)
            await ctx.checkpoint()
            await new Promise<void>((resolve) => response.end('disk bytes', resolve))
            return undefined
          },
          fault,
        )
      })
    }
    const response = await xapi.getResource('/exp_raw/', { query: { vdi: 'OpaqueRef:v' } })
    expect(response.statusCode).toBe(200)
    const taskRef = response.headers['task-id'] as string
    expect(await response.body.text()).toBe('disk bytes')
    await expect(response.task).resolves.toBe('')
    expect(served).toEqual(['/exp_raw /exp_raw/'])
    await eventually(() => !sim.core.db.exists('task', taskRef), 5000, 'the client destroying its task')

    await (await xapi.getResource('/exp/')).body.text()
    expect(served).toEqual(['/exp_raw /exp_raw/', '/exp /exp/'])
    const denied = await fetch(`${sim.url}/exp/?session_id=OpaqueRef:nope`)
    expect(denied.status).toBe(401)
  })

  it('take uploads with putResource and hand the task result back to the client', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const received: string[] = []
    sim.router.register('PUT', '/imp', async (request, response, url) => {
      const session = handlerSession(sim.core, request, url)!
      const body = await readTextBody(request)
      if (!url.searchParams.has('task_id')) {
        // putResource's probe: an empty PUT that must have no effect.
        response.writeHead(200).end()
        return
      }
      received.push(body)
      const task = handlerTaskRef(sim.core, url, 'import')
      response.writeHead(200, { 'task-id': task }).end()
      await runHandlerTask(sim.core, task, session, async () => '<value>OpaqueRef:imported</value>')
    })
    const stream = Readable.from([Buffer.from('chunk 1, '), Buffer.from('chunk 2')])
    Object.assign(stream, { length: 16 })
    await expect(xapi.putResource(stream, '/imp/', {})).resolves.toBe('OpaqueRef:imported')
    expect(received).toEqual(['chunk 1, chunk 2'])
  })
})

describe('methods added by an integration', () => {
  it('run steps as subtasks of their task, and stall at their checkpoint under a stuck fault', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    const subtasks: { ref: string; subtaskOf: unknown }[] = []
    sim.core.methods.register(
      defineMethod({
        name: 'VM.test_two_steps',
        params: [['vm', 'VM ref']],
        result: 'string',
        async: true,
        handler: async (ctx, [vm]) => {
          await ctx.checkpoint()
          const first = await runSubtask(ctx, 'step 1', async (sub) => {
            subtasks.push({ ref: sub.task!.ref, subtaskOf: ctx.core.db.get('task', sub.task!.ref).subtask_of })
            return ctx.core.db.get('VM', vm).name_label as string
          })
          return `${first} done`
        },
      }),
    )
    const vm = findByName(xapi, 'VM', 'web-01')
    const rule = await sim.control.addFault({ method: 'VM.test_two_steps', action: { kind: 'stuck' } })
    const result = xapi.callAsync('VM.test_two_steps', vm.$ref)
    await eventually(() => sim.core.faults.stuckCount === 1, 5000, 'the stall')
    expect(subtasks).toEqual([])
    await sim.control.releaseStuck(rule)
    await expect(result).resolves.toBe('web-01 done')
    expect(subtasks).toHaveLength(1)
    expect(subtasks[0]!.subtaskOf).toMatch(/^OpaqueRef:/)
    expect(sim.core.db.exists('task', subtasks[0]!.ref)).toBe(false)
  })
})
