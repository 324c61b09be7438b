/**
 * VHD streaming throughput against a plain file copy of the same bytes, measured side by side in one run.
 *
 * ours:     XAPI-layout VHD stream writer → rewrite (uuid + checksums) → file, then the stored file → parser
 *           (validating every structure, yielding every block)
 * baselines: the same file copied with a plain stream pipeline (read + write of the same bytes); and per
 *           phase, the same block buffers written to a file without VHD framing, and the file read plainly.
 *
 * Reports MiB/s of each, the ratios ours/baseline (time), and the peak RSS of each phase.
 * Run: `npm run build && node dist/bench/disk-vhd.js [blocks]` (default 512 blocks = 1 GiB of data).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { rewriteVhdStream } from '../provider/disk/vhd/rewrite'
import { parseVhdStream } from '../provider/disk/vhd/stream-parser'
import { createVhdStream } from '../provider/disk/vhd/stream-writer'

const BLOCK = 2 * 1024 * 1024
const MiB = 1024 * 1024

export interface PhaseResult {
  seconds: number
  mibPerSecond: number
  peakRssMiB: number
}

export interface VhdBenchResult {
  bytes: number
  write: PhaseResult
  parse: PhaseResult
  ours: PhaseResult
  baselineCopy: PhaseResult
  baselineWrite: PhaseResult
  baselineRead: PhaseResult
  /** Time of ours (write + parse) divided by the time of the plain copy: 1 = as fast as copying. */
  ratio: number
  /** write+rewrite vs writing the same block buffers plainly; parse vs reading the file plainly. */
  writeRatio: number
  parseRatio: number
}

async function measure(bytes: number, run: () => Promise<void>): Promise<PhaseResult> {
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 5)
  const start = process.hrtime.bigint()
  try {
    await run()
  } finally {
    clearInterval(timer)
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  peak = Math.max(peak, process.memoryUsage().rss)
  return { seconds, mibPerSecond: bytes / MiB / seconds, peakRssMiB: peak / MiB }
}

export async function benchDiskVhd(blocks = 512): Promise<VhdBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'xcp-backup-bench-'))
  try {
    const vhdPath = join(dir, 'export.vhd')
    const copyPath = join(dir, 'copy.vhd')
    const pattern = randomBytes(BLOCK)
    const indices = Array.from({ length: blocks }, (_, i) => i * 3)
    const makeBlock = (index: number) => {
      const block = Buffer.from(pattern)
      block.writeUInt32BE(index, 0)
      return block
    }
    const stream = () =>
      createVhdStream({
        virtualSize: (blocks * 3 + 1) * BLOCK,
        diskType: 'dynamic',
        uuid: randomUUID(),
        blocks: indices,
        readBlock: async (index) => makeBlock(index),
      })
    const dataBytes = blocks * BLOCK
    const write = await measure(dataBytes, () =>
      pipeline(rewriteVhdStream(stream(), { uuid: randomUUID() }), createWriteStream(vhdPath)),
    )
    const fileBytes = (await stat(vhdPath)).size
    let seen = 0
    const parse = await measure(dataBytes, async () => {
      for await (const item of parseVhdStream(createReadStream(vhdPath, { highWaterMark: 1024 * 1024 })))
        if (item.type === 'block') seen++
    })
    if (seen !== blocks) throw new Error(`parsed ${seen} blocks, expected ${blocks}`)
    const baselineCopy = await measure(fileBytes, () =>
      pipeline(createReadStream(vhdPath, { highWaterMark: 1024 * 1024 }), createWriteStream(copyPath)),
    )
    const baselineWrite = await measure(dataBytes, () =>
      pipeline(async function* () {
        for (const index of indices) yield makeBlock(index)
      }, createWriteStream(copyPath)),
    )
    const baselineRead = await measure(fileBytes, async () => {
      for await (const _ of createReadStream(vhdPath, { highWaterMark: 1024 * 1024 })) {
        // read only
      }
    })
    const oursSeconds = write.seconds + parse.seconds
    const ours: PhaseResult = {
      seconds: oursSeconds,
      mibPerSecond: fileBytes / MiB / oursSeconds,
      peakRssMiB: Math.max(write.peakRssMiB, parse.peakRssMiB),
    }
    return {
      bytes: fileBytes,
      write,
      parse,
      ours,
      baselineCopy,
      baselineWrite,
      baselineRead,
      ratio: oursSeconds / baselineCopy.seconds,
      writeRatio: write.seconds / baselineWrite.seconds,
      parseRatio: parse.seconds / baselineRead.seconds,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (require.main === module) {
  const blocks = Number(process.argv[2] ?? 512)
  benchDiskVhd(blocks).then(
    (result) => {
      const line = (name: string, r: PhaseResult) =>
        `${name.padEnd(14)} ${r.seconds.toFixed(2).padStart(7)} s ${r.mibPerSecond.toFixed(0).padStart(6)} MiB/s  peak RSS ${r.peakRssMiB.toFixed(0)} MiB`
      console.log(`VHD stream of ${(result.bytes / MiB).toFixed(0)} MiB (${blocks} blocks)`)
      console.log(line('write+rewrite', result.write))
      console.log(line('parse', result.parse))
      console.log(line('ours (both)', result.ours))
      console.log(line('plain copy', result.baselineCopy))
      console.log(line('plain write', result.baselineWrite))
      console.log(line('plain read', result.baselineRead))
      console.log(
        `time ratios: ours/copy ${result.ratio.toFixed(2)}, write+rewrite/plain write ${result.writeRatio.toFixed(2)}, parse/plain read ${result.parseRatio.toFixed(2)}`,
      )
      console.log(JSON.stringify(result))
    },
    (error) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
