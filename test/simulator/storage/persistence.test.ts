import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type SrEngine, StorageManager } from '../../../simulator/storage'
import {
  BLOCK_SIZE,
  closeManager,
  contentDigest,
  expectSameBytes,
  GiB,
  MiB,
  openManager,
  pattern,
  rejection,
} from './helpers'

async function snapshotOfState(manager: StorageManager) {
  const state: Record<string, unknown> = {}
  for (const sr of manager.srs()) {
    const vdis = sr.vdis().sort((a, b) => a.uuid.localeCompare(b.uuid))
    const contents: Record<string, string[]> = {}
    const chains: Record<string, string[]> = {}
    for (const vdi of vdis) {
      if (vdi.dataDestroyed) continue
      // Every block of the small disks; big ones are sampled by the test itself.
      if (vdi.virtualSize <= 64 * MiB) contents[vdi.uuid] = await contentDigest(sr, vdi.uuid)
      chains[vdi.uuid] = sr.chain(vdi.uuid)
    }
    state[sr.uuid] = { facts: sr.facts(), vdis, contents, chains }
  }
  return state
}

async function readSrState(stateDir: string, sr: SrEngine) {
  return JSON.parse(await readFile(join(stateDir, 'srs', sr.uuid, 'sr.json'), 'utf8'))
}

describe('persistence', () => {
  it('finds the same trees, contents, sizes and CBT logs after a restart', async () => {
    const { manager, stateDir, records } = await openManager()
    const ext = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 500 * GiB })).uuid)
    const lvm = manager.sr((await manager.createSr({ type: 'lvm', physicalSize: 500 * GiB, allocation: 'thin' })).uuid)
    const cbtSnapshots: string[] = []
    for (const sr of [ext, lvm]) {
      const disk = await sr.createVdi({ virtualSize: 32 * MiB, fill: { seed: 11, fraction: 0.3 } })
      await sr.enableCbt(disk.uuid)
      await sr.write(disk.uuid, 3, pattern(3 * MiB, 1))
      cbtSnapshots.push((await sr.snapshotVdi(disk.uuid)).snapshot.uuid)
      await sr.write(disk.uuid, 20 * MiB + 9, pattern(100, 2))
      cbtSnapshots.push((await sr.snapshotVdi(disk.uuid)).snapshot.uuid)
      await sr.write(disk.uuid, 30 * MiB, pattern(5, 3))
    }
    const big = await ext.createVdi({ virtualSize: 100 * GiB, fill: { seed: 5, fraction: 0.4 } })
    const bigRanges = await ext.exportRangesOf(big.uuid)
    const sample = [bigRanges[0]!.start, bigRanges[5]!.end - 1, 51_199]
    const bigSample = await Promise.all(sample.map((i) => ext.readBlock(big.uuid, i)))
    const before = await snapshotOfState(manager)
    const changes = await ext.listChangedBlocks(cbtSnapshots[0]!, cbtSnapshots[1]!)
    await closeManager(manager)

    const reopened = (await openManager({ stateDir, records })).manager
    expect(await snapshotOfState(reopened)).toEqual(before)
    const ext2 = reopened.sr(ext.uuid)
    expect(await ext2.listChangedBlocks(cbtSnapshots[0]!, cbtSnapshots[1]!)).toBe(changes)
    expect(ext2.allocatedBlocks(big.uuid)).toBe(20_480)
    expect(await ext2.exportRangesOf(big.uuid)).toEqual(bigRanges)
    for (const [i, index] of sample.entries()) expectSameBytes(await ext2.readBlock(big.uuid, index), bigSample[i]!)
    // And it keeps working: write, snapshot, read back.
    await ext2.write(big.uuid, 7 * GiB + 1, pattern(BLOCK_SIZE, 4))
    const { snapshot } = await ext2.snapshotVdi(big.uuid)
    expectSameBytes(await ext2.read(snapshot.uuid, 7 * GiB + 1, BLOCK_SIZE), pattern(BLOCK_SIZE, 4))
  })

  it('resumes a pending GC after a restart, quiet period included', async () => {
    const knobs = { gcQuietPeriodMs: 3_600_000, bootSkipsQuietPeriod: false }
    const { manager, stateDir } = await openManager({ knobs })
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 10 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 32 * MiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const { snapshot } = await sr.snapshotVdi(disk.uuid)
    await sr.destroyVdi(snapshot.uuid)
    expect(sr.gc.active).toBe(true)
    await closeManager(manager)
    const saved = await readSrState(stateDir, sr)
    expect(saved.gc.pending).toBe(true)
    expect(saved.gc.quietUntil).toBeGreaterThan(Date.now() + 3_000_000)

    const reopened = (await openManager({ stateDir, knobs })).manager
    const again = reopened.sr(sr.uuid)
    expect(again.gc.active).toBe(true)
    expect(again.depth(disk.uuid)).toBe(2)
    await again.gc.expedite()
    await again.gc.whenIdle()
    expect(again.depth(disk.uuid)).toBe(1)
    expect((await readSrState(stateDir, sr)).gc).toMatchObject({ pending: false, quietUntil: null })
  })

  it('finishes a coalesce that was running when the simulator stopped', async () => {
    // 1 byte per second: the coalesce of one block would take weeks unless expedited.
    const knobs = { coalesceBytesPerSecond: 1 }
    const { manager, stateDir } = await openManager({ knobs })
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 10 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 32 * MiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, BLOCK_SIZE, pattern(10, 2))
    await sr.snapshotVdi(disk.uuid)
    const expected = await contentDigest(sr, disk.uuid)
    await sr.destroyVdi(s1.uuid)
    for (let i = 0; i < 200 && (await readSrState(stateDir, sr)).gc.inProgress === null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const running = (await readSrState(stateDir, sr)).gc.inProgress
    expect(running).not.toBeNull()
    // The space the parent will grow by is held while the coalesce runs.
    expect(sr.facts().physicalUtilisation).toBeGreaterThan(
      sr.vdis().reduce((total, vdi) => total + vdi.physicalUtilisation, 0),
    )
    await closeManager(manager)

    const reopened = (await openManager({ stateDir, knobs })).manager
    const again = reopened.sr(sr.uuid)
    expect(again.gc.active).toBe(true)
    expect(again.depth(disk.uuid)).toBe(3)
    await again.gc.expedite()
    await again.gc.whenIdle()
    expect(again.depth(disk.uuid)).toBe(2)
    expect(await contentDigest(again, disk.uuid)).toEqual(expected)
  })

  it('keeps a frozen GC frozen across restarts, its kicks remembered', async () => {
    const { manager, stateDir } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 10 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 32 * MiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const { snapshot } = await sr.snapshotVdi(disk.uuid)
    await sr.gc.freeze()
    await sr.destroyVdi(snapshot.uuid)
    await sr.gc.whenIdle()
    await closeManager(manager)
    const again = (await openManager({ stateDir })).manager.sr(sr.uuid)
    expect(again.gc.frozen).toBe(true)
    expect(again.depth(disk.uuid)).toBe(2)
    await again.gc.unfreeze()
    await again.gc.whenIdle()
    expect(again.depth(disk.uuid)).toBe(1)
  })

  it('sweeps what a crash left behind and refuses a damaged state file with its path', async () => {
    const { manager, stateDir } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 10 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 32 * MiB })
    await sr.write(disk.uuid, 0, pattern(BLOCK_SIZE, 1))
    await closeManager(manager)
    const srDir = join(stateDir, 'srs', sr.uuid)
    // A data file whose node never committed, a half-written metadata temporary, a bitmap of no log.
    await writeFile(join(srDir, 'vhd', '11111111-1111-1111-1111-111111111111.blocks'), pattern(100, 2))
    await writeFile(join(srDir, '.sr.json.22222222-2222-2222-2222-222222222222.tmp'), '{"format": "xcp-b')
    await writeFile(join(srDir, 'cbt', '33333333-3333-3333-3333-333333333333.bitmap'), Buffer.alloc(8))

    const reopened = (await openManager({ stateDir })).manager
    expect(await readdir(join(srDir, 'vhd'))).toEqual([`${sr.vdi(disk.uuid).vhdUuid}.blocks`])
    expect(await readdir(join(srDir, 'cbt'))).toEqual([])
    expect((await readdir(srDir)).sort()).toEqual(['cbt', 'sr.json', 'vhd'])
    expectSameBytes(await reopened.sr(sr.uuid).readBlock(disk.uuid, 0), pattern(BLOCK_SIZE, 1))
    await closeManager(reopened)

    const record = await readSrState(stateDir, sr)
    record.nodes[0].parent = '44444444-4444-4444-4444-444444444444'
    await writeFile(join(srDir, 'sr.json'), JSON.stringify(record))
    const error = (await rejection(StorageManager.open({ stateDir }))) as unknown as Error
    expect(error.message).toContain(join(srDir, 'sr.json'))
    expect(error.message).toContain('does not exist')
    record.nodes[0].parent = null
    record.nodes[0].virtualSize = -1
    await writeFile(join(srDir, 'sr.json'), JSON.stringify(record))
    expect(((await rejection(StorageManager.open({ stateDir }))) as unknown as Error).message).toContain(
      'nodes.0.virtualSize',
    )
  })
})
