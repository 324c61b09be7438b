import { describe, expect, it } from 'vitest'
import { type SrEngine, sizes, syntheticBlock, type VdiFacts } from '../../../simulator/storage'
import { BLOCK_SIZE, expectSameBytes, GiB, MiB, openManager, pattern } from './helpers'

/** A small deterministic PRNG so every run of this test does the same operations. */
function prng(seed: number): (n: number) => number {
  let state = seed >>> 0
  return (n) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state % n
  }
}

/** Independent arithmetic of what the SR must report, from the documented formulas. */
function expectedUtilisation(sr: SrEngine, vdis: VdiFacts[]): number {
  const facts = sr.facts()
  let total = facts.type === 'ext' ? 0 : 4 * MiB
  for (const vdi of vdis) {
    if (vdi.dataDestroyed) continue
    const blocks = sr.allocatedBlocks(vdi.uuid)
    if (facts.type === 'ext') {
      expect(vdi.physicalUtilisation).toBe(sizes.vhdFileSize(vdi.virtualSize, blocks))
    } else {
      // LVHD: at least the VHD it holds, rounded to LV extents.
      expect(vdi.physicalUtilisation % (4 * MiB)).toBe(0)
      expect(vdi.physicalUtilisation).toBeGreaterThanOrEqual(sizes.deflatedLvSize(blocks))
    }
    total += vdi.physicalUtilisation
  }
  return total
}

for (const type of ['ext', 'lvm'] as const) {
  describe(`random operations on a ${type} SR against a reference model`, () => {
    it('keeps contents, trees, sizes and published facts true while the GC runs alongside', async () => {
      const { manager } = await openManager()
      const sr = manager.sr((await manager.createSr({ type, physicalSize: 50 * GiB, allocation: 'thin' })).uuid)
      const published = new Map<string, VdiFacts>()
      manager.on('vdi-introduced', ({ vdi }) => published.set(vdi.uuid, vdi))
      manager.on('vdi-updated', ({ vdi }) => published.set(vdi.uuid, vdi))
      manager.on('vdi-forgotten', ({ uuid }) => published.delete(uuid))

      const random = prng(type === 'ext' ? 7 : 8)
      const reference = new Map<string, Buffer>()
      const pick = () => [...reference.keys()][random(reference.size)]!
      let seed = 1

      const check = async (step: number) => {
        await sr.gc.whenIdle()
        const vdis = sr.vdis()
        const managed = vdis.filter((v) => v.managed && !v.dataDestroyed)
        expect(new Set(managed.map((v) => v.uuid))).toEqual(new Set(reference.keys()))
        for (const vdi of managed) {
          const expected = reference.get(vdi.uuid)!
          expect(vdi.virtualSize).toBe(expected.length)
          expectSameBytes(await sr.read(vdi.uuid, 0, expected.length), expected, `step ${step}, VDI ${vdi.uuid}`)
          expect(sr.depth(vdi.uuid)).toBeLessThanOrEqual(30)
        }
        const facts = sr.facts()
        expect(facts.physicalUtilisation).toBe(expectedUtilisation(sr, vdis))
        expect(facts.virtualAllocation).toBe(managed.reduce((sum, v) => sum + v.virtualSize, 0))
        expect(facts.freeSpace).toBe(facts.physicalSize - facts.physicalUtilisation)
        expect(new Map(vdis.map((v) => [v.uuid, v]))).toEqual(published)
      }

      for (let step = 0; step < 120; step++) {
        const operation = reference.size === 0 ? 0 : random(10)
        if (operation === 0 || reference.size < 2) {
          const size = (2 + random(3)) * BLOCK_SIZE
          const vdi = await sr.createVdi({ virtualSize: size })
          reference.set(vdi.uuid, Buffer.alloc(size))
        } else if (operation <= 3) {
          const uuid = pick()
          const disk = reference.get(uuid)!
          const offset = random(disk.length)
          const data = pattern(1 + random(Math.min(disk.length - offset, 3 * MiB)), seed++)
          await sr.write(uuid, offset, data)
          disk.set(data, offset)
        } else if (operation === 4) {
          const uuid = pick()
          const disk = reference.get(uuid)!
          const start = random(disk.length / BLOCK_SIZE)
          const fillSeed = seed++
          await sr.fillSynthetic(uuid, { seed: fillSeed, ranges: [{ start, end: start + 1 }] })
          syntheticBlock(fillSeed, start).copy(disk, start * BLOCK_SIZE)
        } else if (operation <= 6) {
          const uuid = pick()
          if (sr.depth(uuid) >= 30) continue
          const { snapshot } = operation === 5 ? await sr.snapshotVdi(uuid) : await sr.cloneVdi(uuid)
          reference.set(snapshot.uuid, Buffer.from(reference.get(uuid)!))
        } else if (operation <= 8) {
          const uuid = pick()
          await sr.destroyVdi(uuid)
          reference.delete(uuid)
        } else {
          const uuid = pick()
          const disk = reference.get(uuid)!
          const grown = Buffer.alloc(disk.length + BLOCK_SIZE)
          disk.copy(grown)
          await sr.resizeVdi(uuid, grown.length)
          reference.set(uuid, grown)
        }
        if (step % 10 === 9) await check(step)
      }
      await check(120)
      // Everything coalescable was coalesced: no base copy has a single child.
      const vdis = sr.vdis()
      for (const base of vdis.filter((v) => v.isBaseCopy)) {
        expect(vdis.filter((v) => v.smConfig['vhd-parent'] === base.uuid).length).toBeGreaterThan(1)
      }
    }, 300_000)
  })
}
