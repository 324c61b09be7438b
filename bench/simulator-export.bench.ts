import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createClient, type Xapi } from 'xen-api'
import { fixtureSchema, patternBytes, type RunningSimulator, startSimulator } from '../simulator'

/**
 * Disk export throughput of the simulator through the real xen-api client's `getResource`, raw and
 * VHD, for a 10 GiB disk fully allocated with synthetic contents and one partly written (synthetic
 * fill plus real stored writes), side by side with a plain read of the same number of bytes from a
 * file in the same run (a 256 MiB file read over and over, so from the page cache: the fastest a
 * consumer can take bytes). Peak RSS is sampled during each transfer (simulator and client share the
 * process).
 */

const GiB = 2 ** 30
const MiB = 2 ** 20
const SIZE = 10 * GiB
const WRITTEN = 512 * MiB

interface Measure {
  readonly bytes: number
  readonly ms: number
  readonly peakRssMiB: number
}

/** Runs `work` while sampling the process's RSS. */
async function measured(work: () => Promise<number>): Promise<Measure> {
  globalThis.gc?.()
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 20)
  const started = performance.now()
  try {
    const bytes = await work()
    return { bytes, ms: performance.now() - started, peakRssMiB: Math.max(peak, process.memoryUsage().rss) / MiB }
  } finally {
    clearInterval(timer)
  }
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0
  for await (const chunk of body) bytes += chunk.length
  return bytes
}

async function exportOnce(xapi: Xapi, vdi: string, format: 'raw' | 'vhd'): Promise<number> {
  const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi, format } })
  const bytes = await drain(response.body)
  await response.task
  return bytes
}

async function plainRead(file: string, bytes: number): Promise<number> {
  let read = 0
  while (read < bytes) {
    for await (const chunk of createReadStream(file, { highWaterMark: 2 * MiB })) {
      read += (chunk as Buffer).length
      if (read >= bytes) break
    }
  }
  return read
}

const rate = (m: Measure) => `${(m.bytes / MiB / (m.ms / 1000)).toFixed(0)} MiB/s`

export async function run(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'xcp-bench-export-'))
  let sim: RunningSimulator | undefined
  let xapi: Xapi | undefined
  try {
    const file = join(work, 'plain.bin')
    await writeFile(file, patternBytes(1, 0, 256 * MiB))
    sim = await startSimulator({
      log: () => undefined,
      knobs: { gcQuietPeriodMs: 0, vmSnapshotMs: 0 },
      fixture: fixtureSchema.parse({
        pool: { name: 'Bench' },
        hosts: [{ name: 'h1' }],
        srs: [{ name: 'ext', type: 'ext', size: '100GiB', host: 'h1' }],
        vms: [
          { name: 'full', disks: [{ name: 'full', size: '10GiB', sr: 'ext', used: '100%' }] },
          { name: 'partly', disks: [{ name: 'partly', size: '10GiB', sr: 'ext', used: '40%' }] },
        ],
      }),
    })
    xapi = createClient({ url: sim.url, auth: { user: 'root', password: sim.password }, debounce: 10 })
    await xapi.connect()
    await xapi.objectsFetched
    const vdiOf = (name: string) => sim!.core.db.filter('VDI', (vdi) => vdi.name_label === name)[0]!
    const partly = vdiOf('partly')
    // Real stored bytes over part of the synthetic fill and part of the empty space.
    for (let offset = 0; offset < WRITTEN; offset += 64 * MiB) {
      await sim.control.writePattern({ vdi: partly }, { seed: 2, offset: offset * 16, length: 64 * MiB })
    }

    const rows: string[] = []
    for (const [disk, vdi] of [
      ['10 GiB, 100 % synthetic', vdiOf('full')],
      ['10 GiB, 40 % synthetic + 512 MiB written', partly],
    ] as const) {
      for (const format of ['raw', 'vhd'] as const) {
        const ours = await measured(() => exportOnce(xapi!, vdi, format))
        const baseline = await measured(() => plainRead(file, ours.bytes))
        rows.push(
          `| ${disk} | ${format} | ${(ours.bytes / GiB).toFixed(2)} GiB | ${rate(ours)} | ${rate(baseline)} | ${(ours.ms / baseline.ms).toFixed(1)}x | ${ours.peakRssMiB.toFixed(0)} MiB |`,
        )
      }
    }
    process.stdout.write(
      `Disk of ${SIZE / GiB} GiB exported through xen-api getResource, against reading as many bytes from a cached file.\n\n`,
    )
    process.stdout.write(
      '| disk | format | body | export | plain file read | time ratio | peak RSS during export |\n|---|---|---|---|---|---|---|\n',
    )
    for (const row of rows) process.stdout.write(`${row}\n`)
  } finally {
    await xapi?.disconnect().catch(() => undefined)
    // Ending the sessions answers the client's pending event.from, which would otherwise see a cut connection.
    sim?.core.sessions.invalidateAll()
    await new Promise((resolve) => setTimeout(resolve, 50))
    await sim?.close()
    await rm(work, { recursive: true, force: true })
  }
}
