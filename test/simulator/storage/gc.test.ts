import { describe, expect, it } from 'vitest'
import type { GcTaskEvent, MessageEvent, SrEngine, StorageManager, VdiFacts } from '../../../simulator/storage'
import { sizes } from '../../../simulator/storage'
import { assertHealthyVdiChain, chainFactsOf, uncoalescedAncestors } from '../../../simulator/storage/health'
import { BLOCK_SIZE, contentDigest, GiB, MiB, openManager, pattern } from './helpers'

function record(manager: StorageManager) {
  const log = {
    introduced: [] as VdiFacts[],
    forgotten: [] as string[],
    messages: [] as MessageEvent[],
    tasks: [] as GcTaskEvent[],
  }
  manager.on('vdi-introduced', ({ vdi }) => log.introduced.push(vdi))
  manager.on('vdi-forgotten', ({ uuid }) => log.forgotten.push(uuid))
  manager.on('message', (event) => log.messages.push(event))
  manager.on('gc-task', (event) => log.tasks.push(event))
  return log
}

/** Digests of every managed VDI that still has data, to compare before and after the GC. */
async function digests(sr: SrEngine): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>()
  for (const vdi of sr.vdis())
    if (vdi.managed && !vdi.dataDestroyed) map.set(vdi.uuid, await contentDigest(sr, vdi.uuid))
  return map
}

function health(sr: SrEngine) {
  return sr.vdis().map((vdi) => chainFactsOf(vdi))
}

async function setup(options: { type?: 'ext' | 'lvm'; physicalSize?: number } = {}) {
  const { manager, records } = await openManager()
  const sr = manager.sr(
    (await manager.createSr({ type: options.type ?? 'ext', physicalSize: options.physicalSize ?? 100 * GiB })).uuid,
  )
  return { manager, records, sr, log: record(manager) }
}

describe('garbage collection and coalesce', () => {
  it('destroying a snapshot kicks the GC, which leaf-coalesces the disk into its base copy', async () => {
    const { sr, log } = await setup()
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.write(disk.uuid, 0, pattern(3 * BLOCK_SIZE, 1))
    const { snapshot, baseCopy } = await sr.snapshotVdi(disk.uuid)
    await sr.write(disk.uuid, 10 * BLOCK_SIZE + 5, pattern(100, 2))
    await sr.write(disk.uuid, BLOCK_SIZE + 5, pattern(100, 3)) // overrides the base copy's block 1
    const before = await contentDigest(sr, disk.uuid)

    await sr.destroyVdi(snapshot.uuid)
    expect(sr.gc.active).toBe(true)
    await sr.gc.whenIdle()

    expect(log.forgotten).toEqual([snapshot.uuid, baseCopy!.uuid])
    expect(sr.vdis().map((v) => v.uuid)).toEqual([disk.uuid])
    const after = sr.vdi(disk.uuid)
    expect(after.vhdUuid).toBe(baseCopy!.vhdUuid)
    expect(after.smConfig['vhd-parent']).toBeUndefined()
    expect(sr.depth(disk.uuid)).toBe(1)
    expect(await contentDigest(sr, disk.uuid)).toEqual(before)
    expect(after.physicalUtilisation).toBe(sizes.vhdFileSize(64 * MiB, 4))
    expect(sr.facts().physicalUtilisation).toBe(after.physicalUtilisation)
    expect(log.tasks.map((t) => t.phase)).toContain('created')
    expect(log.tasks.at(-1)).toMatchObject({ phase: 'finished', status: 'success', nameLabel: 'Garbage Collection' })
  })

  it('coalesces base copies of a chain (non-leaf) and keeps every leaf and snapshot byte for byte', async () => {
    const { sr } = await setup({ type: 'lvm', physicalSize: 10 * GiB })
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    const other = await sr.createVdi({ virtualSize: 64 * MiB, fill: { seed: 9, fraction: 0.5 } })
    const snapshots: string[] = []
    for (let i = 0; i < 6; i++) {
      await sr.write(disk.uuid, (i * 7 + 1) * MiB + i, pattern(3 * MiB + 11, i))
      // The same block rewritten in every interval: coalesces must let the child's copy win.
      await sr.write(disk.uuid, 50 * MiB + i * 1000, pattern(5000, 60 + i))
      // Block 22 is stored in the oldest base copy, then replaced by synthetic blocks two intervals later.
      if (i === 0) await sr.write(disk.uuid, 44 * MiB + 3, pattern(777, 5))
      if (i === 2) await sr.fillSynthetic(disk.uuid, { seed: 77, ranges: [{ start: 20, end: 26 }] })
      snapshots.push((await sr.snapshotVdi(disk.uuid)).snapshot.uuid)
      await sr.write(other.uuid, i * BLOCK_SIZE, pattern(10, 100 + i))
      snapshots.push((await sr.snapshotVdi(other.uuid)).snapshot.uuid)
    }
    await sr.write(disk.uuid, 60 * MiB, pattern(MiB, 50))
    const baseline = await digests(sr)
    // Delete every other snapshot, oldest first, then one more: pending coalesces pile up and are all done.
    for (const uuid of [snapshots[0]!, snapshots[2]!, snapshots[4]!, snapshots[1]!, snapshots[7]!]) {
      await sr.destroyVdi(uuid)
      baseline.delete(uuid)
    }
    await sr.gc.whenIdle()
    expect(await digests(sr)).toEqual(baseline)
    // No hidden node is left with a single child (everything coalescable was coalesced).
    const facts = sr.vdis()
    for (const base of facts.filter((v) => v.isBaseCopy)) {
      expect(facts.filter((v) => v.smConfig['vhd-parent'] === base.uuid).length).toBeGreaterThan(1)
    }
    expect(
      facts
        .filter((v) => v.isBaseCopy)
        .every((v) => v.physicalUtilisation === sizes.deflatedLvSize(sr.allocatedBlocks(v.uuid))),
    ).toBe(true)
  })

  it('deletes garbage: base copies whose every descendant was destroyed', async () => {
    const { sr, log } = await setup()
    const disk = await sr.createVdi({ virtualSize: 32 * MiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, BLOCK_SIZE, pattern(10, 2))
    const s2 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.gc.freeze()
    for (const uuid of [disk.uuid, s1.uuid, s2.uuid]) await sr.destroyVdi(uuid)
    expect(sr.vdis().every((v) => v.isBaseCopy)).toBe(true)
    expect(sr.vdis()).toHaveLength(2)
    await sr.gc.unfreeze()
    await sr.gc.whenIdle()
    expect(sr.vdis()).toEqual([])
    expect(sr.facts().physicalUtilisation).toBe(0)
    expect(log.forgotten).toHaveLength(5)
  })

  it('snapshot-coalesces a leaf too big to merge live: an internal snapshot, then a live merge', async () => {
    const { manager } = await openManager({ knobs: { liveLeafCoalesceMaxBytes: BLOCK_SIZE } })
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 10 * GiB })).uuid)
    const log = record(manager)
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.write(disk.uuid, 0, pattern(BLOCK_SIZE, 1))
    const { snapshot, baseCopy } = await sr.snapshotVdi(disk.uuid)
    await sr.write(disk.uuid, 4 * BLOCK_SIZE, pattern(4 * BLOCK_SIZE, 2))
    const before = await contentDigest(sr, disk.uuid)
    await sr.destroyVdi(snapshot.uuid)
    await sr.gc.whenIdle()
    const internal = log.introduced.filter((v) => v.isBaseCopy && v.snapshotOf === disk.uuid)
    expect(internal).toHaveLength(1)
    expect(log.forgotten).toEqual(expect.arrayContaining([snapshot.uuid, baseCopy!.uuid, internal[0]!.uuid]))
    expect(sr.vdis().map((v) => v.uuid)).toEqual([disk.uuid])
    expect(await contentDigest(sr, disk.uuid)).toEqual(before)
  })

  it('honours the SR and VDI switches', async () => {
    const { sr, records } = await setup()
    const disk = await sr.createVdi({ virtualSize: 32 * MiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, BLOCK_SIZE, pattern(10, 2))
    const s2 = (await sr.snapshotVdi(disk.uuid)).snapshot
    const lonely = await sr.createVdi({ virtualSize: 32 * MiB })
    await sr.write(lonely.uuid, 0, pattern(10, 3))
    const s3 = (await sr.snapshotVdi(lonely.uuid)).snapshot

    records.setSrOtherConfig(sr.uuid, { gc: 'false' })
    await sr.destroyVdi(lonely.uuid)
    await sr.destroyVdi(s1.uuid)
    await sr.destroyVdi(s3.uuid)
    await sr.gc.whenIdle()
    expect(sr.vdis().filter((v) => v.isBaseCopy)).toHaveLength(3)

    // coalesce=false: garbage (the lonely base copy) goes, the chain stays.
    records.setSrOtherConfig(sr.uuid, { coalesce: 'false' })
    await sr.scan()
    await sr.gc.whenIdle()
    expect(sr.vdis().filter((v) => v.isBaseCopy)).toHaveLength(2)
    expect(sr.depth(disk.uuid)).toBe(3)

    // leaf-coalesce=false: the non-leaf pair is merged, the leaf is not.
    records.setSrOtherConfig(sr.uuid, { 'leaf-coalesce': 'false' })
    await sr.destroyVdi(s2.uuid)
    await sr.gc.whenIdle()
    expect(sr.depth(disk.uuid)).toBe(2)
    records.setSrOtherConfig(sr.uuid, {})
    records.setVdi(disk.uuid, { otherConfig: { 'leaf-coalesce': 'false' } })
    await sr.scan()
    await sr.gc.whenIdle()
    expect(sr.depth(disk.uuid)).toBe(2)
    records.setVdi(disk.uuid, { otherConfig: {} })
    await sr.scan()
    await sr.gc.whenIdle()
    expect(sr.depth(disk.uuid)).toBe(1)
  })

  it('posts one SM_GC_NO_SPACE message while a coalesce does not fit, and withdraws it once it does', async () => {
    const V = 64 * MiB
    const empty = sizes.calcOverheadEmpty(V)
    // B1 <- {B2 <- {A, S2}, S1} (bases of two blocks each) plus a spare disk of 3 blocks; 1 MB free.
    const used = 6 * empty + 7 * sizes.BLOCK_FILE_COST
    const { sr, log } = await setup({ physicalSize: used + 1_000_000 })
    const spare = await sr.createVdi({ virtualSize: V })
    await sr.write(spare.uuid, 0, pattern(3 * BLOCK_SIZE, 9))
    const disk = await sr.createVdi({ virtualSize: V })
    await sr.write(disk.uuid, 0, pattern(2 * BLOCK_SIZE, 1))
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, 2 * BLOCK_SIZE, pattern(2 * BLOCK_SIZE, 2))
    const { baseCopy: b2 } = await sr.snapshotVdi(disk.uuid)
    expect(sr.facts().freeSpace).toBe(1_000_000)

    await sr.destroyVdi(s1.uuid)
    await sr.gc.whenIdle()
    await sr.scan()
    await sr.gc.whenIdle()
    const created = log.messages.filter((m) => m.action === 'create')
    expect(created).toHaveLength(1)
    expect(created[0]).toMatchObject({
      name: 'SM_GC_NO_SPACE',
      priority: 3,
      cls: 'SR',
      objUuid: sr.uuid,
      body: `Unable to perform data coalesce due to a lack of space in SR ${sr.uuid}`,
    })
    const message = (created[0] as { uuid: string }).uuid
    expect(sr.facts().smConfig.gc_no_space).toBe(message)
    expect(sr.vdi(b2!.uuid).smConfig.gc_no_space).toBe(message)
    expect(sr.depth(disk.uuid)).toBe(3)

    await sr.destroyVdi(spare.uuid)
    await sr.gc.whenIdle()
    expect(sr.depth(disk.uuid)).toBe(2)
    expect(log.messages.at(-1)).toEqual({ action: 'destroy', uuid: message })
    expect(sr.facts().smConfig.gc_no_space).toBeUndefined()
  })

  it('skips a pair whose coalesce fails (ENOSPC, EIO), with a rate-limited message, and retries on the next kick', async () => {
    const { sr, log, records } = await setup()
    const disk = await sr.createVdi({ virtualSize: 32 * MiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, BLOCK_SIZE, pattern(10, 2))
    await sr.snapshotVdi(disk.uuid)
    await sr.write(disk.uuid, 2 * BLOCK_SIZE, pattern(10, 3))
    const s3 = (await sr.snapshotVdi(disk.uuid)).snapshot

    sr.gc.injectCoalesceFailure('ENOSPC')
    await sr.destroyVdi(s1.uuid)
    await sr.gc.whenIdle()
    expect(sr.depth(disk.uuid)).toBe(4)
    expect(log.messages).toEqual([
      expect.objectContaining({
        name: 'No space left on device',
        body: 'Run out of space while coalescing.',
        priority: 3,
        cls: 'SR',
      }),
    ])
    expect(sr.facts().smConfig['last-coalesce-error']).toMatch(/^\d+$/)

    // A second failure within the hour posts nothing (default rate: one per 60 minutes)...
    sr.gc.injectCoalesceFailure('EIO')
    await sr.scan()
    await sr.gc.whenIdle()
    expect(log.messages).toHaveLength(1)
    // ...unless the SR asks for every error.
    records.setSrOtherConfig(sr.uuid, { 'coalesce-error-rate': '0' })
    sr.gc.injectCoalesceFailure('EIO')
    await sr.scan()
    await sr.gc.whenIdle()
    expect(log.messages.at(-1)).toMatchObject({ name: 'Input/output error', body: 'I/O error while coalescing.' })

    await sr.scan()
    await sr.gc.whenIdle()
    expect(sr.depth(disk.uuid)).toBe(3)
    expect(sr.depth(s3.uuid)).toBe(3)
  })
})

describe('XO chain protection against the simulated GC', () => {
  it('is unhealthy while the GC is frozen with two pending coalesces, healthy once it has run', async () => {
    const { sr } = await setup()
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.gc.freeze()
    let previous: string | null = null
    const runBackup = async (n: number) => {
      assertHealthyVdiChain(disk.uuid, health(sr))
      await sr.write(disk.uuid, n * BLOCK_SIZE, pattern(1000, n))
      const { snapshot } = await sr.snapshotVdi(disk.uuid)
      if (previous !== null) await sr.destroyVdi(previous)
      previous = snapshot.uuid
    }
    await runBackup(1)
    await runBackup(2)
    expect(uncoalescedAncestors(disk.uuid, health(sr))).toHaveLength(1)
    await runBackup(3) // one pending coalesce is tolerated
    expect(uncoalescedAncestors(disk.uuid, health(sr))).toHaveLength(2)
    expect(() => assertHealthyVdiChain(disk.uuid, health(sr))).toThrow('unhealthy VDI chain')
    expect(sr.gc.frozen).toBe(true)

    await sr.gc.unfreeze()
    await sr.gc.whenIdle()
    expect(uncoalescedAncestors(disk.uuid, health(sr))).toEqual([])
    assertHealthyVdiChain(disk.uuid, health(sr))
    expect(sr.depth(disk.uuid)).toBe(2)
    await runBackup(4)
  })
})
