import { execFile } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FileBackend } from '../provider/remote/file/file-backend'
import { SmbBackend } from '../provider/remote/smb/smb-backend'
import { startSamba } from '../test/helpers/samba'

const run = promisify(execFile)

/**
 * Streamed write throughput of the file and SMB backends against the system's own tools writing the
 * same bytes in the same run: `cp` + `sync` and `cat` + `sync` (our save fsyncs too), and Samba's
 * `smbclient put`.
 * Run as root (Samba): node test/helpers/remote-ts-child.cjs bench/remote-throughput.ts [MiB]
 */
export interface ThroughputResult {
  case: string
  ours: number
  baseline: number
  baselineName: string
  /** ours / baseline: above 1 means faster than the baseline. */
  ratio: number
}

export async function benchRemoteThroughput(sizeMiB = 512, rounds = 5): Promise<ThroughputResult[]> {
  const work = await mkdtemp(join(tmpdir(), 'xcp-bench-remote-'))
  const samba = await startSamba()
  try {
    const source = join(work, 'source.bin')
    await writeSource(source, sizeMiB * 1024 * 1024)
    const bytes = (await stat(source)).size
    const mbps = (ms: number) => bytes / 1e6 / (ms / 1000)

    const localDir = join(work, 'local')
    await run('mkdir', ['-p', localDir])
    const files = await FileBackend.open(localDir)
    const smb = await SmbBackend.connect(samba.location(), samba.password)
    const authFile = join(work, 'smb-auth')
    await writeFile(authFile, `username = ${samba.username}\npassword = ${samba.password}\n`, { mode: 0o600 })

    const cases = [
      {
        case: 'file backend save',
        baselineName: 'cp + sync',
        ours: (i: number) => files.save(`ours-${i}.bin`, createReadStream(source, { highWaterMark: 1 << 20 })),
        baseline: async (i: number) => {
          const target = join(localDir, `cp-${i}.bin`)
          await run('cp', [source, target])
          await run('sync', [target])
        },
        cleanup: async (i: number) => {
          await files.remove(`ours-${i}.bin`)
          await rm(join(localDir, `cp-${i}.bin`))
        },
      },
      {
        // cp copies in the kernel (copy_file_range): no data through user space. cat reads and
        // writes, as any streaming writer must.
        case: 'file backend save',
        baselineName: 'cat > f + sync',
        ours: (i: number) => files.save(`ours-${i}.bin`, createReadStream(source, { highWaterMark: 1 << 20 })),
        baseline: async (i: number) => {
          const target = join(localDir, `cat-${i}.bin`)
          await run('sh', ['-c', 'cat "$1" > "$2" && sync "$2"', 'sh', source, target])
        },
        cleanup: async (i: number) => {
          await files.remove(`ours-${i}.bin`)
          await rm(join(localDir, `cat-${i}.bin`))
        },
      },
      {
        // The write path alone: the same 1 MiB chunk again and again (no source to read) against
        // dd writing zeros from the kernel, fsync included on both sides.
        case: 'file save (no src)',
        baselineName: 'dd zero + fsync',
        ours: (i: number) => files.save(`ours-${i}.bin`, repeated(bytes, 1 << 20)),
        baseline: async (i: number) => {
          const target = join(localDir, `dd-${i}.bin`)
          await run('dd', [
            'if=/dev/zero',
            `of=${target}`,
            'bs=1M',
            `count=${bytes >> 20}`,
            'conv=fsync',
            'status=none',
          ])
        },
        cleanup: async (i: number) => {
          await files.remove(`ours-${i}.bin`)
          await rm(join(localDir, `dd-${i}.bin`))
        },
      },
      {
        case: 'smb backend save',
        baselineName: 'smbclient put',
        ours: (i: number) => smb.save(`ours-${i}.bin`, createReadStream(source, { highWaterMark: 1 << 20 })),
        baseline: async (i: number) => {
          await run('smbclient', [
            `//127.0.0.1/${samba.share}`,
            '-p',
            String(samba.port),
            '-A',
            authFile,
            '-c',
            `put ${source} put-${i}.bin`,
          ])
        },
        cleanup: async (i: number) => {
          await smb.remove(`ours-${i}.bin`)
          await smb.remove(`put-${i}.bin`)
        },
      },
      {
        case: 'smb save (no src)',
        baselineName: 'smbclient put',
        ours: (i: number) => smb.save(`ours-${i}.bin`, repeated(bytes, 1 << 20)),
        baseline: async (i: number) => {
          await run('smbclient', [
            `//127.0.0.1/${samba.share}`,
            '-p',
            String(samba.port),
            '-A',
            authFile,
            '-c',
            `put ${source} put-${i}.bin`,
          ])
        },
        cleanup: async (i: number) => {
          await smb.remove(`ours-${i}.bin`)
          await smb.remove(`put-${i}.bin`)
        },
      },
    ]

    const results: ThroughputResult[] = []
    for (const c of cases) {
      const ours: number[] = []
      const baseline: number[] = []
      // Alternate, so that both see the same machine load over the run.
      for (let i = 0; i < rounds; i++) {
        ours.push(await timed(() => c.ours(i)))
        baseline.push(await timed(() => c.baseline(i)))
        // Each round starts from the same disk state: no pile-up of earlier rounds' files.
        await c.cleanup(i)
      }
      const oursMbps = mbps(median(ours))
      const baselineMbps = mbps(median(baseline))
      results.push({
        case: c.case,
        ours: oursMbps,
        baseline: baselineMbps,
        baselineName: c.baselineName,
        ratio: oursMbps / baselineMbps,
      })
    }
    await smb.close()
    return results
  } finally {
    await samba.stop()
    await rm(work, { recursive: true, force: true })
  }
}

async function writeSource(path: string, size: number): Promise<void> {
  // Incompressible, so no layer can shortcut it.
  const handle = await open(path, 'w')
  const chunk = Buffer.alloc(1 << 20)
  let x = 0x9e3779b9
  for (let offset = 0; offset < size; offset += chunk.length) {
    for (let i = 0; i < chunk.length; i += 4) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      chunk.writeInt32LE(x | 0, i)
    }
    await handle.write(chunk)
  }
  await handle.close()
}

function* repeated(total: number, size: number): Generator<Buffer> {
  const chunk = Buffer.alloc(size, 0x5a)
  for (let offset = 0; offset < total; offset += size) yield chunk
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await action()
  return performance.now() - start
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

// Run directly (compiled, or through test/helpers/remote-ts-child.cjs, which sets argv[1] to this file).
if (require.main === module || /remote-throughput\.[jt]s$/.test(process.argv[1] ?? '')) {
  const size = Number(process.argv[2] ?? 512)
  benchRemoteThroughput(size)
    .then((results) => {
      console.log(`streamed write of ${size} MiB, median of 5 rounds, MB/s`)
      for (const r of results) {
        console.log(
          `${r.case.padEnd(20)} ${r.ours.toFixed(0).padStart(6)}   ${r.baselineName.padEnd(16)} ${r.baseline.toFixed(0).padStart(6)}   ratio ${r.ratio.toFixed(2)}`,
        )
      }
    })
    .catch((error: unknown) => {
      console.error(error)
      process.exit(1)
    })
}
