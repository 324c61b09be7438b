import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { StorageEventMap } from '../../../simulator/storage'
import { sizes } from '../../../simulator/storage'
import { BLOCK_SIZE, GiB, MiB, openManager, pattern, rejection } from './helpers'

const { inflatedLvSize, deflatedLvSize, THIN_LV_SIZE } = sizes

describe('LVHD provisioning', () => {
  it('grows a thin leaf as it is written, inflates it while attached read-write and deflates it on detach', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'lvmohba', physicalSize: 2 * GiB, allocation: 'thin' })).uuid)
    expect(sr.facts()).toMatchObject({
      allocation: 'thin',
      physicalUtilisation: 4 * MiB,
      smConfig: { allocation: 'thin' },
    })
    const disk = await sr.createVdi({ virtualSize: 1 * GiB })
    expect(disk.physicalUtilisation).toBe(THIN_LV_SIZE)
    expect(THIN_LV_SIZE).toBe(8 * MiB)
    await sr.write(disk.uuid, 0, pattern(3 * BLOCK_SIZE, 1))
    expect(sr.vdi(disk.uuid).physicalUtilisation).toBe(deflatedLvSize(3))
    expect(deflatedLvSize(3)).toBe(12 * MiB)

    await sr.attach(disk.uuid, { holder: 'vbd' })
    expect(sr.vdi(disk.uuid).physicalUtilisation).toBe(inflatedLvSize(1 * GiB))
    await sr.detach(disk.uuid, 'vbd')
    expect(sr.vdi(disk.uuid).physicalUtilisation).toBe(deflatedLvSize(3))

    // A second disk that cannot be inflated within the VG: attach fails with 180.
    const big = await sr.createVdi({ virtualSize: 1536 * MiB })
    await sr.attach(disk.uuid, { holder: 'vbd' })
    expect(await rejection(sr.attach(big.uuid, { holder: 'vbd-2' }))).toMatchObject({ code: 'SR_BACKEND_FAILURE_180' })
    expect(sr.vdi(big.uuid).physicalUtilisation).toBe(THIN_LV_SIZE)
    // Read-only attaches never inflate.
    await sr.attach(big.uuid, { holder: 'nbd', readOnly: true })
    expect(sr.vdi(big.uuid).physicalUtilisation).toBe(THIN_LV_SIZE)
  })

  it('reserves the full LV on a thick SR at create and resize, refusing with 44 when the VG is short', async () => {
    const { manager } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'lvm', physicalSize: 10 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 4 * GiB })
    expect(disk.physicalUtilisation).toBe(inflatedLvSize(4 * GiB))
    expect(await rejection(sr.createVdi({ virtualSize: 6 * GiB }))).toMatchObject({
      code: 'SR_BACKEND_FAILURE_44',
      params: ['', 'There is insufficient space', ''],
    })
    expect(await rejection(sr.resizeVdi(disk.uuid, 20 * GiB))).toMatchObject({ code: 'SR_BACKEND_FAILURE_44' })
    expect(sr.vdi(disk.uuid).virtualSize).toBe(4 * GiB)
    expect((await sr.resizeVdi(disk.uuid, 5 * GiB + 1)).virtualSize).toBe(5 * GiB + 2 * MiB)
    expect(sr.vdi(disk.uuid).physicalUtilisation).toBe(inflatedLvSize(5 * GiB + 2 * MiB))
    expect(await rejection(sr.createVdi({ virtualSize: 2041 * GiB }))).toMatchObject({
      code: 'SR_BACKEND_FAILURE_79',
      params: ['', 'VDI Invalid size [opterr=VDI size must be between 1 MB and 2088960 MB]', ''],
    })
  })
})

describe('change notifications', () => {
  it('introduces the base copy before the snapshot, then updates the source and the SR', async () => {
    const { manager } = await openManager({ knobs: { snapshotPauseMs: 20 } })
    const sr = manager.sr((await manager.createSr({ type: 'ext', physicalSize: 10 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.write(disk.uuid, 0, pattern(100, 1))
    const events: Array<[keyof StorageEventMap, unknown]> = []
    for (const name of ['vdi-introduced', 'vdi-updated', 'vdi-forgotten', 'sr-updated'] as const) {
      manager.on(name, (event: unknown) => events.push([name, event]))
    }
    const { snapshot, baseCopy, source } = await sr.snapshotVdi(disk.uuid)
    const shape = events.map(([name, event]) => {
      const e = event as { vdi?: { uuid: string; smConfig: Record<string, string> }; uuid?: string }
      return `${name} ${e.vdi?.uuid ?? e.uuid ?? ''}${e.vdi?.smConfig.paused === 'true' ? ' paused' : ''}`
    })
    expect(shape).toEqual([
      `vdi-updated ${disk.uuid} paused`,
      `vdi-introduced ${baseCopy!.uuid}`,
      `vdi-introduced ${snapshot.uuid}`,
      `vdi-updated ${disk.uuid}`,
      'sr-updated ',
    ])
    expect((events[3]![1] as { vdi: unknown }).vdi).toEqual(source)
  })

  it('destroys an SR only once it holds no VDI, and removes its state', async () => {
    const { manager, stateDir } = await openManager()
    const sr = manager.sr((await manager.createSr({ type: 'nfs', physicalSize: 10 * GiB })).uuid)
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const { snapshot } = await sr.snapshotVdi(disk.uuid)
    expect(await rejection(manager.destroySr(sr.uuid))).toMatchObject({ code: 'SR_NOT_EMPTY', params: [] })
    await sr.gc.freeze()
    await sr.destroyVdi(disk.uuid)
    await sr.destroyVdi(snapshot.uuid)
    expect(sr.vdis().map((v) => v.isBaseCopy)).toEqual([true])
    await manager.destroySr(sr.uuid)
    expect(await readdir(join(stateDir, 'srs'))).toEqual([])
    expect(await rejection(Promise.resolve().then(() => manager.sr(sr.uuid)))).toMatchObject({
      code: 'UUID_INVALID',
      params: ['SR', sr.uuid],
    })
  })
})
