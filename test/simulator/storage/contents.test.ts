import { describe, expect, it } from 'vitest'
import { type SrEngine, sizes, syntheticBlock } from '../../../simulator/storage'
import { BLOCK_SIZE, contentDigest, expectSameBytes, GiB, MiB, openManager, pattern, rejection, sha } from './helpers'

/** A plain in-memory copy of what a disk must contain, to judge the engine against. */
class ReferenceDisk {
  readonly bytes: Buffer
  constructor(size: number) {
    this.bytes = Buffer.alloc(size)
  }
  write(offset: number, data: Uint8Array): void {
    this.bytes.set(data, offset)
  }
  copy(): Buffer {
    return Buffer.from(this.bytes)
  }
}

async function newSr(type: 'ext' | 'lvm' = 'ext', physicalSize = 100 * GiB): Promise<SrEngine> {
  const { manager } = await openManager()
  return manager.sr((await manager.createSr({ type, physicalSize })).uuid)
}

describe('guest writes and reads', () => {
  it('keeps every view exact with unaligned writes across blocks, snapshots and copy-up', async () => {
    for (const type of ['ext', 'lvm'] as const) {
      const sr = await newSr(type)
      const size = 24 * MiB
      const disk = await sr.createVdi({ virtualSize: size })
      const reference = new ReferenceDisk(size)
      const snapshots: Array<{ uuid: string; bytes: Buffer }> = []
      let seed = 1
      const writes: Array<[number, number]> = [
        [0, 1],
        [BLOCK_SIZE - 3, 7], // straddles blocks 0 and 1
        [5 * MiB + 12_345, 3 * MiB], // spans blocks 2, 3, 4
        [23 * MiB + 511, MiB - 511], // ends exactly at the end of the disk
        [BLOCK_SIZE * 6, BLOCK_SIZE], // exactly one whole block
        [7 * MiB, 1],
      ]
      for (let round = 0; round < 4; round++) {
        for (const [offset, length] of writes) {
          const data = pattern(length, seed++)
          const at = Math.min(offset + round * 4097, size - length)
          await sr.write(disk.uuid, at, data)
          reference.write(at, data)
        }
        expectSameBytes(await sr.read(disk.uuid, 0, size), reference.bytes, `${type} leaf after round ${round}`)
        const { snapshot } = await sr.snapshotVdi(disk.uuid)
        snapshots.push({ uuid: snapshot.uuid, bytes: reference.copy() })
      }
      for (const [i, s] of snapshots.entries()) {
        expectSameBytes(await sr.read(s.uuid, 0, size), s.bytes, `${type} snapshot ${i}`)
      }
      // Unaligned reads return the same bytes as the reference.
      expectSameBytes(
        await sr.read(disk.uuid, BLOCK_SIZE - 5, 10),
        reference.bytes.subarray(BLOCK_SIZE - 5, BLOCK_SIZE + 5),
      )
      // A first small write into a block the leaf does not hold copies the rest of the block up.
      expect(sr.allocatedBlocks(disk.uuid)).toBe(0)
      await sr.write(disk.uuid, 3 * BLOCK_SIZE + 100, pattern(3, 99))
      reference.write(3 * BLOCK_SIZE + 100, pattern(3, 99))
      expect(sr.allocatedBlocks(disk.uuid)).toBe(1)
      expectSameBytes(await sr.readBlock(disk.uuid, 3), reference.bytes.subarray(3 * BLOCK_SIZE, 4 * BLOCK_SIZE))
    }
  })

  it('fails a write the SR has no room for with VDI_IO_ERROR and writes nothing', async () => {
    const sr = await newSr('ext', sizes.vhdFileSize(1 * GiB, 2) + 1000)
    const disk = await sr.createVdi({ virtualSize: 1 * GiB })
    await sr.write(disk.uuid, 0, pattern(2 * BLOCK_SIZE, 1))
    const error = await rejection(sr.write(disk.uuid, 10 * BLOCK_SIZE, pattern(10, 2)))
    expect(error).toMatchObject({ code: 'VDI_IO_ERROR', params: ['Device I/O errors'] })
    expect(sr.allocatedBlocks(disk.uuid)).toBe(2)
    expect(sha(await sr.readBlock(disk.uuid, 10))).toBe(sha(Buffer.alloc(BLOCK_SIZE)))
    // Overwriting blocks already allocated needs no space.
    await sr.write(disk.uuid, 5, pattern(10, 3))
    expect(await rejection(sr.write(disk.uuid, 1 * GiB - 1, pattern(2, 1)))).toMatchObject({ code: 'VDI_IO_ERROR' })
  })

  it('writes whole blocks in batches and can skip zero blocks nothing below holds', async () => {
    const sr = await newSr()
    const disk = await sr.createVdi({ virtualSize: 256 * MiB })
    const blocks = Array.from({ length: 100 }, (_, i) => ({
      index: i,
      data: i % 3 === 0 ? Buffer.alloc(BLOCK_SIZE) : pattern(BLOCK_SIZE, i),
    }))
    await sr.writeBlocks(disk.uuid, blocks, { skipZeroUnallocated: true })
    expect(sr.allocatedBlocks(disk.uuid)).toBe(100 - 34)
    for (const { index, data } of blocks) expect(sha(await sr.readBlock(disk.uuid, index))).toBe(sha(data))
  })
})

describe('synthetic contents', () => {
  it('allocates a fraction of a big disk without storing it, counts it fully and reads reproducible bytes', async () => {
    const sr = await newSr('ext', 1024 * GiB)
    const disk = await sr.createVdi({ virtualSize: 100 * GiB, fill: { seed: 42, fraction: 0.4 } })
    expect(sr.allocatedBlocks(disk.uuid)).toBe(20_480)
    expect(disk.physicalUtilisation).toBe(sizes.vhdFileSize(100 * GiB, 20_480))
    expect(sr.facts().physicalUtilisation).toBe(disk.physicalUtilisation)

    const ranges = await sr.exportRangesOf(disk.uuid)
    expect(ranges.length).toBeGreaterThan(10)
    expect(ranges.reduce((n, r) => n + r.end - r.start, 0)).toBe(20_480)
    const first = ranges[0]!
    const block = await sr.readBlock(disk.uuid, first.start)
    expect(sha(block)).toBe(sha(syntheticBlock(42, first.start)))
    expect(sha(block)).not.toBe(sha(Buffer.alloc(BLOCK_SIZE)))
    if (first.start > 0) expect(sha(await sr.readBlock(disk.uuid, 0))).toBe(sha(Buffer.alloc(BLOCK_SIZE)))

    // Another pool with the same fixture sees the same bytes.
    const other = await newSr('ext', 1024 * GiB)
    const twin = await other.createVdi({ virtualSize: 100 * GiB, fill: { seed: 42, fraction: 0.4 } })
    expect(await other.exportRangesOf(twin.uuid)).toEqual(ranges)
    expect(sha(await other.readBlock(twin.uuid, first.start + 1))).toBe(
      sha(await sr.readBlock(disk.uuid, first.start + 1)),
    )

    // A guest write into a synthetic block keeps the rest of the block.
    const inside = first.start * BLOCK_SIZE + 1000
    await sr.write(disk.uuid, inside, pattern(10, 5))
    const expected = Buffer.from(syntheticBlock(42, first.start))
    expected.set(pattern(10, 5), 1000)
    expectSameBytes(await sr.readBlock(disk.uuid, first.start), expected)
    expect(sr.allocatedBlocks(disk.uuid)).toBe(20_480)
  })

  it('copies a synthetic disk to another SR without storing its blocks', async () => {
    const { manager } = await openManager()
    const a = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 1024 * GiB })).uuid)
    const b = manager.sr((await manager.createSr({ type: 'lvm', physicalSize: 1024 * GiB, allocation: 'thin' })).uuid)
    const disk = await a.createVdi({ virtualSize: 50 * GiB, fill: { seed: 3, fraction: 0.25 } })
    await a.write(disk.uuid, 17, pattern(3 * MiB, 8))
    await a.snapshotVdi(disk.uuid)
    await a.write(disk.uuid, 40 * GiB, pattern(100, 9))
    const copy = await manager.copyVdi(disk.uuid, b.uuid)
    expect(copy.sr).toBe(b.uuid)
    expect(await b.exportRangesOf(copy.uuid)).toEqual(await a.exportRangesOf(disk.uuid))
    for (const index of [0, 1, 2, 40 * 512, (await a.exportRangesOf(disk.uuid))[3]!.start]) {
      expect(sha(await b.readBlock(copy.uuid, index))).toBe(sha(await a.readBlock(disk.uuid, index)))
    }
  })
})

describe('export support', () => {
  it('delta blocks applied onto the base reproduce the snapshot byte for byte', async () => {
    const sr = await newSr()
    const size = 40 * MiB
    const disk = await sr.createVdi({ virtualSize: size })
    await sr.write(disk.uuid, 0, pattern(9 * MiB + 3, 1))
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, 3 * MiB + 7, pattern(100, 2)) // inside block 1
    await sr.write(disk.uuid, 20 * MiB, pattern(5 * MiB, 3)) // blocks 10..12
    await sr.fillSynthetic(disk.uuid, { seed: 5, ranges: [{ start: 15, end: 17 }] })
    const s2 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, 0, pattern(10, 4)) // after s2: must not leak into the delta

    const full = await sr.blocksToExport(s2.uuid)
    expect(full).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 15, 16])
    const delta = await sr.blocksToExport(s2.uuid, { sr, vdi: s1.uuid })
    expect(delta).toEqual([1, 10, 11, 12, 15, 16])

    const restored = await sr.read(s1.uuid, 0, size)
    for (const index of delta) (await sr.readBlock(s2.uuid, index)).copy(restored, index * BLOCK_SIZE)
    expectSameBytes(restored, await sr.read(s2.uuid, 0, size), 'base + delta')

    // Reversed: the delta from s2 to s1 reverts the same blocks.
    expect(await sr.blocksToExport(s1.uuid, { sr, vdi: s2.uuid })).toEqual(delta)
  })

  it('accepts an unrelated base like vhd-tool, refuses a destroyed or raw one', async () => {
    const { manager, records } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 100 * GiB })).uuid)
    const a = await sr.createVdi({ virtualSize: 8 * MiB })
    const b = await sr.createVdi({ virtualSize: 8 * MiB })
    await sr.write(a.uuid, 0, pattern(10, 1))
    await sr.write(b.uuid, 5 * MiB, pattern(10, 2))
    expect(await sr.blocksToExport(a.uuid, { sr, vdi: b.uuid })).toEqual([0, 2])

    const raw = await sr.createVdi({ virtualSize: 8 * MiB, raw: true })
    expect(await rejection(sr.blocksToExport(a.uuid, { sr, vdi: raw.uuid }))).toMatchObject({
      code: 'INTERNAL_ERROR',
      params: ['base VDI is not a vhd; cannot compute differences'],
    })

    await sr.enableCbt(a.uuid)
    const snap = (await sr.snapshotVdi(a.uuid)).snapshot
    records.setVdi(snap.uuid, { isASnapshot: true })
    await sr.dataDestroyVdi(snap.uuid)
    expect(await rejection(sr.blocksToExport(a.uuid, { sr, vdi: snap.uuid }))).toMatchObject({
      code: 'VDI_INCOMPATIBLE_TYPE',
      params: [snap.uuid, 'cbt_metadata'],
    })
    expect(await rejection(sr.readBlock(snap.uuid, 0))).toMatchObject({ code: 'VDI_INCOMPATIBLE_TYPE' })
  })

  it('digests every block of a VDI (helper sanity)', async () => {
    const sr = await newSr()
    const disk = await sr.createVdi({ virtualSize: 4 * MiB })
    await sr.write(disk.uuid, BLOCK_SIZE, pattern(BLOCK_SIZE, 1))
    expect(await contentDigest(sr, disk.uuid)).toEqual([sha(Buffer.alloc(BLOCK_SIZE)), sha(pattern(BLOCK_SIZE, 1))])
  })
})
