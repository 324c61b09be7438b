import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { type FixtureInput, fixtureSchema, startSimulator } from '../simulator'

/**
 * The simulator's API cost with a 500-VM pool, side by side with a baseline measured in the same run:
 * a bare `node:http` server answering the same request with the same bytes, prepared in advance.
 * The difference is what the simulator adds (dispatch, record assembly, encoding).
 */

const VMS = 500
const ROUNDS = 30

function bigPool(): FixtureInput {
  return {
    pool: { name: 'Bench pool' },
    hosts: [{ name: 'h1' }, { name: 'h2' }],
    srs: [{ name: 'nfs', type: 'nfs', size: '100TiB' }],
    vms: Array.from({ length: VMS }, (_, i) => ({
      name: `vm-${i}`,
      powerState: i % 3 === 0 ? 'Halted' : 'Running',
      host: i % 2 === 0 ? 'h1' : 'h2',
      tags: i % 5 === 0 ? ['prod'] : [],
      disks: [{ size: '20GiB', sr: 'nfs', used: '30%' }],
    })),
  }
}

async function post(url: string, body: string, contentType: string): Promise<string> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body })
  return response.text()
}

async function measure(rounds: number, once: () => Promise<unknown>): Promise<{ median: number; p90: number }> {
  await once()
  const times: number[] = []
  for (let i = 0; i < rounds; i++) {
    const start = performance.now()
    await once()
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  return { median: times[Math.floor(times.length / 2)]!, p90: times[Math.floor(times.length * 0.9)]! }
}

/** A server that answers every POST with `bodies[path]`, as fast as node:http can. */
async function baselineServer(
  bodies: Map<string, { body: string; type: string }>,
): Promise<{ url: string; close(): void }> {
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      const answer = bodies.get(request.url ?? '/')!
      response.writeHead(200, { 'content-type': answer.type, 'content-length': Buffer.byteLength(answer.body) })
      response.end(answer.body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }
}

export async function run(): Promise<void> {
  const built = performance.now()
  const sim = await startSimulator({ fixture: fixtureSchema.parse(bigPool()), log: () => undefined })
  const buildMs = performance.now() - built
  try {
    const login = JSON.parse(
      await post(
        `${sim.url}/jsonrpc`,
        JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'session.login_with_password',
          params: ['root', sim.password],
        }),
        'application/json',
      ),
    ) as { result: string }
    const session = login.result
    const json = (method: string, params: unknown[]) =>
      JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [session, ...params] })
    const xml = (method: string) =>
      `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params><param><value>${session}</value></param></params></methodCall>`

    const [vm] = JSON.parse(
      await post(`${sim.url}/jsonrpc`, json('VM.get_by_name_label', ['vm-1']), 'application/json'),
    ).result as string[]
    const token = JSON.parse(
      await post(`${sim.url}/jsonrpc`, json('event.from', [['pool'], '', 0]), 'application/json'),
    ).result.token as string
    const requests = {
      'VM.get_all_records (JSON-RPC)': {
        path: '/jsonrpc',
        body: json('VM.get_all_records', []),
        type: 'application/json',
      },
      'VM.get_all_records (XML-RPC)': { path: '/xmlrpc', body: xml('VM.get_all_records'), type: 'text/xml' },
      'event.from "*" from scratch (JSON-RPC)': {
        path: '/jsonrpc',
        body: json('event.from', [['*'], '', 0.0]),
        type: 'application/json',
      },
    }
    const bodies = new Map<string, { body: string; type: string }>()
    for (const [name, request] of Object.entries(requests)) {
      bodies.set(`/${encodeURIComponent(name)}`, {
        body: await post(`${sim.url}${request.path}`, request.body, request.type),
        type: request.type,
      })
    }
    const oneChange = json('event.from', [['vm'], token, 30])
    bodies.set('/one-change', {
      body: await (async () => {
        await post(`${sim.url}/jsonrpc`, json('VM.set_name_description', [vm, 'warm-up']), 'application/json')
        return post(`${sim.url}/jsonrpc`, oneChange, 'application/json')
      })(),
      type: 'application/json',
    })
    const baseline = await baselineServer(bodies)
    try {
      const rows: string[][] = []
      for (const [name, request] of Object.entries(requests)) {
        const simulated = await measure(ROUNDS, () => post(`${sim.url}${request.path}`, request.body, request.type))
        const bare = await measure(ROUNDS, () =>
          post(`${baseline.url}/${encodeURIComponent(name)}`, request.body, request.type),
        )
        const size = bodies.get(`/${encodeURIComponent(name)}`)!.body.length
        rows.push([
          name,
          `${(size / 2 ** 20).toFixed(1)} MiB`,
          ms(simulated),
          ms(bare),
          `${(simulated.median / bare.median).toFixed(1)}x`,
        ])
      }
      // A change, then the event.from that reports it (the client's steady state).
      let turn = 0
      const change = await measure(ROUNDS, async () => {
        const since = JSON.parse(
          await post(`${sim.url}/jsonrpc`, json('event.from', [['pool'], '', 0]), 'application/json'),
        ).result.token as string
        await post(`${sim.url}/jsonrpc`, json('VM.set_name_description', [vm, `turn ${turn++}`]), 'application/json')
        await post(`${sim.url}/jsonrpc`, json('event.from', [['vm'], since, 30]), 'application/json')
      })
      const bareChange = await measure(ROUNDS, async () => {
        await post(`${baseline.url}/one-change`, oneChange, 'application/json')
        await post(`${baseline.url}/one-change`, oneChange, 'application/json')
        await post(`${baseline.url}/one-change`, oneChange, 'application/json')
      })
      rows.push([
        'set + event.from of one VM change (3 calls)',
        '-',
        ms(change),
        ms(bareChange),
        `${(change.median / bareChange.median).toFixed(1)}x`,
      ])
      process.stdout.write(
        `Pool of ${VMS} VMs (${sim.core.db.count('VM')} VM objects in all) built in ${buildMs.toFixed(0)} ms; ${ROUNDS} rounds each.\n\n`,
      )
      process.stdout.write(
        '| call | response | simulator median (p90) | bare node:http median (p90) | ratio |\n|---|---|---|---|---|\n',
      )
      for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`)
    } finally {
      baseline.close()
    }
  } finally {
    await sim.close()
  }
}

function ms({ median, p90 }: { median: number; p90: number }): string {
  return `${median.toFixed(1)} ms (${p90.toFixed(1)})`
}
