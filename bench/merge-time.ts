/**
 * Merge time of clean-vm against chain length and changed data, with a baseline measured in the same
 * run: a plain copy of the same amount of data on the same file system (read + write + fsync, the
 * I/O a merge cannot avoid). Each merge and each copy runs in its own process, so its peak RSS is its
 * own. Also shows that merge time follows the changed data, not the virtual size (20 GiB vs 200 GiB
 * sparse disks with the same changes).
 *
 * A case: a full of 64 blocks and N - 1 deltas of C changed blocks each (a chain of N backups);
 * retention keeps the newest backup only, so clean-vm merges the N - 1 older VHDs into it one after
 * the other: (N - 1) × C bytes of blocks move, the baseline copies a file of that size.
 *
 * Run: `npm run build && node dist/bench/merge-time.js [--full]` (without --full, cases moving more
 * than 4 GiB are skipped). Needs free space of about three times the largest case's data.
 */
import { execFile } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { FileBackend } from '../provider/remote/file/file-backend'
import { vmBackupDir } from '../provider/remote/layout/paths'
import { acquireLock } from '../provider/remote/lock'
import { cleanVm } from '../provider/remote/maintenance/clean-vm'
import { applyRetention, planRetention } from '../provider/remote/maintenance/retention'
import { BLOCK, writeBenchChain } from './merge-fixture'

const run = promisify(execFile)
const MiB = 1024 * 1024
const GiB = 1024 * MiB

interface Measured {
  seconds: number
  peakRssMiB: number
  bytes: number
}

export interface MergeCaseResult {
  virtualGiB: number
  chain: number
  changedMiBPerDelta: number
  movedMiB: number
  merge: Measured
  copy: Measured
  /** Merge time / copy time of the same bytes: 1 = as fast as copying the changed data. */
  ratio: number
}

interface Case {
  virtualSize: number
  chain: number
  changed: number
}

export async function benchMergeTime(options: { full?: boolean } = {}): Promise<MergeCaseResult[]> {
  const cases: Case[] = []
  for (const changed of [64 * MiB, 512 * MiB, 2 * GiB]) {
    for (const chain of [2, 5, 10]) {
      if (options.full || (chain - 1) * changed <= 4 * GiB) cases.push({ virtualSize: 20 * GiB, chain, changed })
    }
  }
  // Same changes, ten times the virtual size.
  cases.push({ virtualSize: 200 * GiB, chain: 2, changed: 512 * MiB })
  cases.push({ virtualSize: 200 * GiB, chain: 5, changed: 64 * MiB })

  const work = await mkdtemp(join(tmpdir(), 'xcp-bench-merge-'))
  const results: MergeCaseResult[] = []
  try {
    for (const c of cases) {
      const root = await mkdtemp(join(work, 'remote-'))
      const backend = await FileBackend.open(root)
      const chain = await writeBenchChain(backend, {
        virtualSize: c.virtualSize,
        fullBlocks: 64,
        deltas: c.chain - 1,
        changedBlocks: c.changed / BLOCK,
      })
      const source = join(work, 'copy-source')
      await writeSource(source, chain.deltaBytes)
      // Copy before and after the merge, so both see the same machine load; the median of three runs.
      const copies = [await child(['--copy', source, join(work, 'copy-1')])]
      const merge = await child(['--merge', root, chain.vmUuid, chain.scheduleId])
      copies.push(await child(['--copy', source, join(work, 'copy-2')]))
      copies.push(await child(['--copy', source, join(work, 'copy-3')]))
      copies.sort((a, b) => a.seconds - b.seconds)
      const copy = copies[1]!
      results.push({
        virtualGiB: c.virtualSize / GiB,
        chain: c.chain,
        changedMiBPerDelta: c.changed / MiB,
        movedMiB: chain.deltaBytes / MiB,
        merge,
        copy,
        ratio: merge.seconds / copy.seconds,
      })
      await rm(root, { recursive: true, force: true })
      for (const name of ['copy-source', 'copy-1', 'copy-2', 'copy-3']) await rm(join(work, name), { force: true })
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return results
}

async function child(args: string[]): Promise<Measured> {
  const { stdout } = await run(process.execPath, [__filename, ...args], { maxBuffer: 1024 * 1024 })
  return JSON.parse(stdout) as Measured
}

/** In a child: retention keeps the newest backup, clean-vm merges the rest into it. Timed: clean-vm. */
async function mergeChild(root: string, vmUuid: string, scheduleId: string): Promise<Measured> {
  const backend = await FileBackend.open(root)
  const lock = await acquireLock(backend, vmBackupDir(vmUuid))
  try {
    const plan = await planRetention(backend, { vmUuid, scheduleId, mode: 'delta' }, { retention: 1 }, 'after-transfer')
    await applyRetention(backend, plan, { lock })
    const start = performance.now()
    const result = await cleanVm(backend, vmUuid, { merge: true, remove: true, lock })
    const seconds = (performance.now() - start) / 1000
    if (result.warnings.length > 0) throw new Error(`unexpected warnings: ${JSON.stringify(result.warnings)}`)
    return { seconds, peakRssMiB: peakRssMiB(), bytes: result.merges.reduce((sum, m) => sum + m.mergedBytes, 0) }
  } finally {
    await lock.release()
  }
}

/** In a child: a plain copy, made durable like the merge's writes. */
async function copyChild(source: string, target: string): Promise<Measured> {
  const start = performance.now()
  await pipeline(createReadStream(source, { highWaterMark: MiB }), createWriteStream(target, { highWaterMark: MiB }))
  const handle = await open(target, 'r+')
  await handle.sync()
  const { size } = await handle.stat()
  await handle.close()
  return { seconds: (performance.now() - start) / 1000, peakRssMiB: peakRssMiB(), bytes: size }
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024
}

async function writeSource(path: string, size: number): Promise<void> {
  const handle = await open(path, 'w')
  const chunk = Buffer.alloc(4 * MiB)
  let x = 0x9e3779b9
  for (let i = 0; i < chunk.length; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    chunk.writeInt32LE(x | 0, i)
  }
  for (let offset = 0; offset < size; offset += chunk.length) {
    chunk.writeUInt32LE(offset / chunk.length, 0)
    await handle.write(chunk, 0, Math.min(chunk.length, size - offset))
  }
  await handle.close()
}

function report(results: MergeCaseResult[]): string {
  const rows = [
    [
      'virtual',
      'chain',
      'changed/delta',
      'moved',
      'merge s',
      'copy s',
      'merge/copy',
      'merge MiB/s',
      'merge RSS',
      'copy RSS',
    ],
    ...results.map((r) => [
      `${r.virtualGiB} GiB`,
      String(r.chain),
      `${r.changedMiBPerDelta} MiB`,
      `${r.movedMiB} MiB`,
      r.merge.seconds.toFixed(2),
      r.copy.seconds.toFixed(2),
      r.ratio.toFixed(2),
      (r.merge.bytes / MiB / r.merge.seconds).toFixed(0),
      `${r.merge.peakRssMiB.toFixed(0)} MiB`,
      `${r.copy.peakRssMiB.toFixed(0)} MiB`,
    ]),
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  return rows.map((row) => row.map((cell, i) => cell.padStart(widths[i]!)).join('  ')).join('\n')
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2)
  if (mode === '--merge') {
    process.stdout.write(JSON.stringify(await mergeChild(args[0]!, args[1]!, args[2]!)))
    return
  }
  if (mode === '--copy') {
    process.stdout.write(JSON.stringify(await copyChild(args[0]!, args[1]!)))
    return
  }
  const results = await benchMergeTime({ full: mode === '--full' })
  process.stdout.write(`${report(results)}\n\n${JSON.stringify(results)}\n`)
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack}\n`)
    process.exit(1)
  })
}
