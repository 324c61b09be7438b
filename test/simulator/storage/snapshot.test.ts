import { describe, expect, it } from 'vitest'
import { sizes } from '../../../simulator/storage'
import { expectSameBytes, GiB, MiB, openManager, pattern, rejection } from './helpers'

const { calcOverheadEmpty, inflatedLvSize, THIN_LV_SIZE, vhdFileSize, BLOCK_FILE_COST } = sizes

describe('VDI.snapshot on a file SR', () => {
  it('turns the written leaf into a base copy and keeps the source uuid on a new empty leaf, sizes true at every step', async () => {
    const { manager } = await openManager()
    const srFacts = await manager.createSr({ type: 'ext', physicalSize: 100 * GiB })
    const sr = manager.sr(srFacts.uuid)
    const empty = calcOverheadEmpty(10 * GiB)
    expect(empty).toBe(24_576)

    const disk = await sr.createVdi({ virtualSize: 10 * GiB })
    expect(disk.physicalUtilisation).toBe(empty)
    expect(sr.facts()).toMatchObject({ physicalUtilisation: empty, virtualAllocation: 10 * GiB })

    await sr.write(disk.uuid, 0, pattern(5 * MiB, 1)) // blocks 0, 1, 2
    const written = vhdFileSize(10 * GiB, 3)
    expect(written).toBe(empty + 3 * BLOCK_FILE_COST)
    expect(sr.vdi(disk.uuid).physicalUtilisation).toBe(written)
    expect(sr.facts().physicalUtilisation).toBe(written)
    expect(sr.depth(disk.uuid)).toBe(1)

    const { snapshot, source, baseCopy } = await sr.snapshotVdi(disk.uuid)
    expect(baseCopy).not.toBeNull()
    const base = baseCopy!
    expect(base).toMatchObject({
      managed: false,
      readOnly: true,
      isBaseCopy: true,
      physicalUtilisation: written,
      virtualSize: 10 * GiB,
      origin: 'base-copy',
    })
    expect(base.smConfig['vhd-parent']).toBeUndefined()
    expect(source).toMatchObject({ uuid: disk.uuid, managed: true, readOnly: false, physicalUtilisation: empty })
    expect(source.smConfig['vhd-parent']).toBe(base.uuid)
    expect(source.vhdUuid).not.toBe(disk.vhdUuid)
    expect(base.vhdUuid).toBe(disk.vhdUuid)
    expect(snapshot).toMatchObject({
      managed: true,
      origin: 'snapshot',
      snapshotOf: disk.uuid,
      physicalUtilisation: empty,
    })
    expect(snapshot.smConfig['vhd-parent']).toBe(base.uuid)
    expect(sr.depth(disk.uuid)).toBe(2)
    expect(sr.facts()).toMatchObject({ physicalUtilisation: written + 2 * empty, virtualAllocation: 20 * GiB })

    // Contents: the snapshot and the source both still read what was written.
    expectSameBytes(await sr.read(snapshot.uuid, 0, 5 * MiB), pattern(5 * MiB, 1))
    expectSameBytes(await sr.read(disk.uuid, 0, 5 * MiB), pattern(5 * MiB, 1))

    // Empty-leaf rule: nothing written since, so no base copy and the depth does not grow.
    const second = await sr.snapshotVdi(disk.uuid)
    expect(second.baseCopy).toBeNull()
    expect(second.snapshot.smConfig['vhd-parent']).toBe(base.uuid)
    expect(second.source.smConfig['vhd-parent']).toBe(base.uuid)
    expect(sr.depth(disk.uuid)).toBe(2)
    expect(sr.vdis()).toHaveLength(4)
    expect(sr.facts()).toMatchObject({ physicalUtilisation: written + 3 * empty, virtualAllocation: 30 * GiB })
  })

  it('refuses the 30th snapshot of a chain with SR_BACKEND_FAILURE_109 when data was written between snapshots', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 100 * GiB })).uuid)
    await sr.gc.freeze()
    const disk = await sr.createVdi({ virtualSize: 1 * GiB })
    for (let i = 1; i <= 29; i++) {
      await sr.write(disk.uuid, i * 2 * MiB + 17, pattern(100, i))
      await sr.snapshotVdi(disk.uuid)
      expect(sr.depth(disk.uuid)).toBe(i + 1)
    }
    await sr.write(disk.uuid, 0, pattern(10, 99))
    const before = { vdis: sr.vdis(), facts: sr.facts() }
    const error = await rejection(sr.snapshotVdi(disk.uuid))
    expect(error.code).toBe('SR_BACKEND_FAILURE_109')
    expect(error.params).toEqual(['', 'The snapshot chain is too long', ''])
    expect({ vdis: sr.vdis(), facts: sr.facts() }).toEqual(before)
    // Clones go through the same check.
    expect((await rejection(sr.cloneVdi(disk.uuid))).code).toBe('SR_BACKEND_FAILURE_109')
  })

  it('does not grow the chain when nothing is written between snapshots', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 100 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 1 * GiB })
    const first = await sr.snapshotVdi(disk.uuid)
    // A fresh disk is a dynamic (root) VHD, not an empty differencing one: it becomes a base copy.
    expect(first.baseCopy).not.toBeNull()
    for (let i = 0; i < 40; i++) {
      const { baseCopy } = await sr.snapshotVdi(disk.uuid)
      expect(baseCopy).toBeNull()
    }
    expect(sr.depth(disk.uuid)).toBe(2)
    expect(sr.vdis().filter((v) => v.isBaseCopy)).toHaveLength(1)
  })
})

describe('VDI.snapshot space checks', () => {
  it('fails with SR_BACKEND_FAILURE_44 and changes nothing on a thick LVM SR too small for the inflated leaf', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'lvm', physicalSize: 100 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 60 * GiB })
    expect(disk.physicalUtilisation).toBe(inflatedLvSize(60 * GiB))
    expect(inflatedLvSize(60 * GiB)).toBe(60 * GiB + 128 * MiB)
    await sr.fillSynthetic(disk.uuid, { seed: 1, fraction: 1 })
    expect(sr.allocatedBlocks(disk.uuid)).toBe(30 * 1024)
    const before = { vdis: sr.vdis(), facts: sr.facts() }
    expect(before.facts.physicalUtilisation).toBe(4 * MiB + 60 * GiB + 128 * MiB)

    const error = await rejection(sr.snapshotVdi(disk.uuid))
    expect(error.code).toBe('SR_BACKEND_FAILURE_44')
    expect(error.params).toEqual(['', 'There is insufficient space', ''])
    expect({ vdis: sr.vdis(), facts: sr.facts() }).toEqual(before)
  })

  it('succeeds on an EXT SR of the same size, costing two empty VHDs', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 100 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 60 * GiB })
    await sr.fillSynthetic(disk.uuid, { seed: 1, fraction: 1 })
    const used = sr.facts().physicalUtilisation
    const result = await sr.snapshotVdi(disk.uuid)
    expect(calcOverheadEmpty(60 * GiB)).toBe(128 * 1024)
    expect(sr.facts().physicalUtilisation - used).toBe(2 * 128 * 1024)
    expect(result.baseCopy?.physicalUtilisation).toBe(used)
  })

  it('sizes the LVs of an LVHD snapshot as LVHDSR does', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'lvmoiscsi', physicalSize: 200 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 60 * GiB })
    await sr.fillSynthetic(disk.uuid, { seed: 1, fraction: 1 })
    const { snapshot, source, baseCopy } = await sr.snapshotVdi(disk.uuid)
    const deflated = sizes.lvSizeFor(sizes.lvhdVhdSize(30 * 1024))
    expect(deflated).toBe(60 * GiB + 20 * MiB)
    expect(baseCopy?.physicalUtilisation).toBe(deflated)
    expect(source.physicalUtilisation).toBe(inflatedLvSize(60 * GiB))
    expect(snapshot.physicalUtilisation).toBe(THIN_LV_SIZE)
    expect(snapshot.smConfig.vdi_type).toBe('vhd')
    expect(sr.facts().physicalUtilisation).toBe(4 * MiB + deflated + inflatedLvSize(60 * GiB) + 8 * MiB)
    expect(sr.facts().smConfig.allocation).toBe('thick')
  })

  it('refuses a file SR snapshot with SR_BACKEND_FAILURE_81 only when two empty VHDs do not fit', async () => {
    const { manager } = await openManager()
    // Room for the disk's 5 written blocks and 10 000 bytes more: less than two empty 1 GiB VHDs (2 × 8 KiB).
    const physicalSize = vhdFileSize(1 * GiB, 5) + 10_000
    const sr = manager.sr((await manager.createSr({ type: 'nfs', physicalSize })).uuid)
    const disk = await sr.createVdi({ virtualSize: 1 * GiB })
    await sr.write(disk.uuid, 0, pattern(10 * MiB, 3))
    expect(sr.facts().freeSpace).toBe(10_000)
    const error = await rejection(sr.snapshotVdi(disk.uuid))
    expect(error.code).toBe('SR_BACKEND_FAILURE_81')
    expect(error.params).toEqual(['', 'Failed to clone VDI [opterr=VDI clone failed error 28]', ''])
  })
})

describe('VDI.snapshot preconditions', () => {
  it('checks in XAPI order, then SM order', async () => {
    const { manager, records } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 100 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 1 * GiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const { baseCopy } = await sr.snapshotVdi(disk.uuid)

    expect(await rejection(sr.snapshotVdi(baseCopy!.uuid))).toMatchObject({
      code: 'VDI_NOT_MANAGED',
      params: [baseCopy!.uuid],
    })
    records.setVdi(disk.uuid, { sharable: true, onBoot: 'reset', currentOperations: ['copy'] })
    expect(await rejection(sr.snapshotVdi(disk.uuid))).toMatchObject({ code: 'VDI_IS_SHARABLE', params: [disk.uuid] })
    records.setVdi(disk.uuid, { sharable: false })
    expect((await rejection(sr.snapshotVdi(disk.uuid))).code).toBe('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION')
    records.setVdi(disk.uuid, { onBoot: 'persist' })
    expect(await rejection(sr.snapshotVdi(disk.uuid))).toMatchObject({
      code: 'OPERATION_NOT_ALLOWED',
      params: ['Snapshot operation not allowed during copy.'],
    })
    records.setVdi(disk.uuid, { currentOperations: [], type: 'cbt_metadata', sharable: true })
    expect(await rejection(sr.snapshotVdi(disk.uuid))).toMatchObject({
      code: 'VDI_INCOMPATIBLE_TYPE',
      params: [disk.uuid, 'cbt_metadata'],
    })
    records.setVdi(disk.uuid, { type: 'user', sharable: false })

    const raw = await sr.createVdi({ virtualSize: 1 * GiB, raw: true })
    expect(raw.smConfig.type).toBe('raw')
    expect(await rejection(sr.snapshotVdi(raw.uuid))).toMatchObject({
      code: 'SR_BACKEND_FAILURE_38',
      params: [
        '',
        'The requested method is not supported/implemented [opterr=Raw VDI, snapshot or clone not permitted]',
        '',
      ],
    })

    const iso = manager.sr((await manager.createSr({ type: 'iso', physicalSize: 10 * GiB })).uuid)
    const image = await iso.createVdi({ virtualSize: 3 * MiB + 5, content: pattern(3 * MiB + 5, 7) })
    expect(image).toMatchObject({ readOnly: true, virtualSize: 3 * MiB + 5 })
    expect(await rejection(iso.snapshotVdi(image.uuid))).toMatchObject({
      code: 'SR_OPERATION_NOT_SUPPORTED',
      params: [iso.uuid],
    })
    expect((await rejection(iso.write(image.uuid, 0, pattern(1, 1)))).code).toBe('VDI_READ_ONLY')
    expectSameBytes(await iso.read(image.uuid, 0, 3 * MiB + 5), pattern(3 * MiB + 5, 7))
  })

  it('names objects by uuid in params and lets the XAPI layer turn them into refs', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 10 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 1 * GiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const { baseCopy } = await sr.snapshotVdi(disk.uuid)
    const error = (await rejection(sr.destroyVdi(baseCopy!.uuid))) as unknown as {
      toXapiParams(refOf: (cls: string, uuid: string) => string): string[]
    }
    expect(error.toXapiParams((cls, uuid) => `OpaqueRef:${cls}-${uuid}`)).toEqual([`OpaqueRef:VDI-${baseCopy!.uuid}`])
  })
})

describe('VM.snapshot (snapshotMany)', () => {
  it('is all or nothing: a failing disk rolls back the snapshots already taken', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 100 * GiB })).uuid)
    await sr.gc.freeze()
    const healthy = await sr.createVdi({ virtualSize: 1 * GiB })
    const deep = await sr.createVdi({ virtualSize: 1 * GiB })
    await sr.write(healthy.uuid, 0, pattern(10, 1))
    for (let i = 1; i <= 29; i++) {
      await sr.write(deep.uuid, i * 2 * MiB, pattern(10, i))
      await sr.snapshotVdi(deep.uuid)
    }
    await sr.write(deep.uuid, 0, pattern(10, 30))
    const snapshotsBefore = sr.vdis().filter((v) => v.origin === 'snapshot').length
    const items = [
      { sr: sr.uuid, vdi: healthy.uuid },
      { sr: sr.uuid, vdi: deep.uuid },
    ]
    expect((await rejection(manager.snapshotMany(items))).code).toBe('SR_BACKEND_FAILURE_109')
    expect(sr.vdis().filter((v) => v.origin === 'snapshot')).toHaveLength(snapshotsBefore)
    // The healthy disk's data is intact on its (now longer) chain.
    expectSameBytes(await sr.read(healthy.uuid, 0, 10), pattern(10, 1))

    const ok = await manager.snapshotMany([{ sr: sr.uuid, vdi: healthy.uuid }])
    expect(ok).toHaveLength(1)
    expectSameBytes(await sr.read(ok[0]!.snapshot.uuid, 0, 10), pattern(10, 1))
  })
})
