import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'
import { sizes } from '../../../simulator/storage'
import { GiB, openManager, pattern } from './helpers'

const run = promisify(execFile)

/** Bytes the filesystem really allocated under `path` (`du`, not the apparent size). */
async function diskUsage(path: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', path])
  return Number(stdout.split('\t')[0])
}

it('holds a pool of 500 disks of 100 GiB, a fifth of them full and a fifth 40 % full, in a few megabytes', async () => {
  const { manager, stateDir } = await openManager()
  const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 100 * 1024 * GiB })).uuid)
  const started = Date.now()
  let expectedUtilisation = 0
  for (let i = 0; i < 500; i++) {
    const fill = i % 5 === 0 ? { seed: i, fraction: 1 } : i % 5 === 1 ? { seed: i, fraction: 0.4 } : undefined
    const disk = await sr.createVdi({ virtualSize: 100 * GiB, ...(fill === undefined ? {} : { fill }) })
    const blocks = fill === undefined ? 0 : Math.round(fill.fraction * 51_200)
    expect(disk.physicalUtilisation).toBe(sizes.vhdFileSize(100 * GiB, blocks))
    expectedUtilisation += disk.physicalUtilisation
  }
  const elapsed = Date.now() - started
  console.log(`created 500 × 100 GiB VDIs in ${elapsed} ms`)

  const facts = sr.facts()
  expect(facts.virtualAllocation).toBe(500 * 100 * GiB)
  expect(facts.physicalUtilisation).toBe(expectedUtilisation)
  // 100 full disks and 100 at 40 %: 14 000 GiB counted as used, nothing of it stored.
  expect(facts.physicalUtilisation).toBeGreaterThan(14_000 * GiB)
  const usage = await diskUsage(stateDir)
  console.log(
    `state directory: ${usage} bytes on disk, sr.json ${(await stat(join(stateDir, 'srs', sr.uuid, 'sr.json'))).size} bytes`,
  )
  expect(usage).toBeLessThan(4 * 1024 * 1024)

  // A write near the end of a disk stores one block; the data file stays sparse.
  const target = sr.vdis()[7]!
  await sr.write(target.uuid, 99 * GiB + 5, pattern(10, 1))
  const file = join(stateDir, 'srs', sr.uuid, 'vhd', `${target.vhdUuid}.blocks`)
  expect((await stat(file)).size).toBe(99 * GiB + sizes.BLOCK_SIZE)
  expect(await diskUsage(file)).toBeLessThanOrEqual(sizes.BLOCK_SIZE + 64 * 1024)
  expect(await diskUsage(stateDir)).toBeLessThan(usage + sizes.BLOCK_SIZE + 1024 * 1024)
}, 600_000)
