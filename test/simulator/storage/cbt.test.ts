import { describe, expect, it } from 'vitest'
import type { MessageEvent } from '../../../simulator/storage'
import { sizes } from '../../../simulator/storage'
import { BLOCK_SIZE, GiB, MiB, openManager, pattern, rejection } from './helpers'

const KiB64 = 64 * 1024

/** Indices of the 64 KiB regions marked in a `list_changed_blocks` answer (MSB first). */
function changedRegions(base64: string): number[] {
  const bitmap = Buffer.from(base64, 'base64')
  const regions: number[] = []
  for (let n = 0; n < bitmap.length * 8; n++) if (bitmap[n >> 3]! & (0x80 >> (n & 7))) regions.push(n)
  return regions
}

/** The 2 MiB blocks XO downloads from that answer: `readUInt32BE(4k) !== 0`. */
function xoBlocks(base64: string): number[] {
  const bitmap = Buffer.from(base64, 'base64')
  const blocks: number[] = []
  for (let k = 0; 4 * k < bitmap.length; k++) if (bitmap.readUInt32BE(4 * k) !== 0) blocks.push(k)
  return blocks
}

async function setup(type: 'ext' | 'lvm' = 'ext', knobs = {}) {
  const { manager, records } = await openManager({ knobs })
  const sr = manager.sr((await manager.createSr({ type, physicalSize: 100 * GiB })).uuid)
  const messages: MessageEvent[] = []
  manager.on('message', (m) => messages.push(m))
  return { manager, records, sr, messages }
}

describe('changed block tracking', () => {
  it('tracks 64 KiB regions per snapshot interval and answers list_changed_blocks MSB first', async () => {
    const { sr } = await setup()
    const disk = await sr.createVdi({ virtualSize: 256 * MiB })
    const before = sr.facts().physicalUtilisation
    expect((await sr.enableCbt(disk.uuid)).cbtEnabled).toBe(true)
    expect(sr.facts().physicalUtilisation - before).toBe(sizes.cbtLogFileSize(256 * MiB))

    await sr.write(disk.uuid, 0, pattern(1, 1))
    await sr.write(disk.uuid, 5 * KiB64 + 100, pattern(KiB64, 2)) // regions 5 and 6
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    expect(s1.cbtEnabled).toBe(true)
    await sr.write(disk.uuid, 3 * BLOCK_SIZE + 1, pattern(10, 3)) // region 96 (block 3)
    const s2 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, 100 * MiB, pattern(3 * KiB64, 4)) // regions 1600..1602
    await sr.fillSynthetic(disk.uuid, { seed: 1, ranges: [{ start: 120, end: 121 }] }) // regions 3840..3871
    const s3 = (await sr.snapshotVdi(disk.uuid)).snapshot

    const s1s2 = await sr.listChangedBlocks(s1.uuid, s2.uuid)
    expect(Buffer.from(s1s2, 'base64')).toHaveLength(sizes.cbtBitmapBytes(256 * MiB))
    expect(changedRegions(s1s2)).toEqual([96])
    expect(xoBlocks(s1s2)).toEqual([3])
    const synthetic = Array.from({ length: 32 }, (_, i) => 3840 + i)
    expect(changedRegions(await sr.listChangedBlocks(s2.uuid, s3.uuid))).toEqual([1600, 1601, 1602, ...synthetic])
    expect(changedRegions(await sr.listChangedBlocks(s1.uuid, s3.uuid))).toEqual([96, 1600, 1601, 1602, ...synthetic])
    // The live leaf is the end of the list: writes since the last snapshot.
    await sr.write(disk.uuid, 0, pattern(1, 5))
    expect(changedRegions(await sr.listChangedBlocks(s3.uuid, disk.uuid))).toEqual([0])

    // Deleting a snapshot folds its bitmap into the next log: the history survives.
    await sr.destroyVdi(s2.uuid)
    expect(changedRegions(await sr.listChangedBlocks(s1.uuid, s3.uuid))).toEqual([96, 1600, 1601, 1602, ...synthetic])
    // A clone does not carry CBT.
    expect((await sr.cloneVdi(disk.uuid)).snapshot.cbtEnabled).toBe(false)
  })

  it('fails list_changed_blocks with the SM and XAPI errors', async () => {
    const { sr } = await setup()
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    const other = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.enableCbt(disk.uuid)
    await sr.enableCbt(other.uuid)
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const s2 = (await sr.snapshotVdi(disk.uuid)).snapshot
    const o1 = (await sr.snapshotVdi(other.uuid)).snapshot
    const plain = await sr.createVdi({ virtualSize: 64 * MiB })

    const failed = (opterr: string) => ['', `Failed to calculate changed blocks for given VDIs. [opterr=${opterr}]`, '']
    expect(await rejection(sr.listChangedBlocks(s1.uuid, s1.uuid))).toMatchObject({
      code: 'SR_BACKEND_FAILURE_460',
      params: failed('Source and target VDI are same'),
    })
    for (const [from, to] of [
      [s2.uuid, s1.uuid], // reversed
      [s1.uuid, o1.uuid], // another disk's chain
      [plain.uuid, s2.uuid], // no log
      [s1.uuid, plain.uuid],
    ] as const) {
      expect(await rejection(sr.listChangedBlocks(from, to))).toMatchObject({
        code: 'SR_BACKEND_FAILURE_460',
        params: failed('Source and target VDI are unrelated'),
      })
    }
    expect(await rejection(sr.listChangedBlocks(s1.uuid, '00000000-0000-0000-0000-000000000000'))).toMatchObject({
      code: 'SR_BACKEND_FAILURE_460',
    })
    expect(await rejection(sr.listChangedBlocks('00000000-0000-0000-0000-000000000000', s1.uuid))).toMatchObject({
      code: 'UUID_INVALID',
      params: ['VDI', '00000000-0000-0000-0000-000000000000'],
    })

    // `to` attached to a running VM (or an NBD connection) is in use; a snapshot VM's VBD is not.
    await sr.attach(s2.uuid, { holder: 'nbd-1', readOnly: true })
    expect(await rejection(sr.listChangedBlocks(s1.uuid, s2.uuid))).toMatchObject({
      code: 'VDI_IN_USE',
      params: [s2.uuid, 'list_changed_blocks'],
    })
    await sr.detach(s2.uuid, 'nbd-1')
    await sr.attach(s2.uuid, { holder: 'vbd-of-checkpoint', readOnly: true, snapshotVm: true })
    expect(await sr.listChangedBlocks(s1.uuid, s2.uuid)).toMatch(/^[A-Za-z0-9+/]+=*$/)
    await sr.detach(s2.uuid, 'vbd-of-checkpoint')

    // A damaged log: its bitmap no longer covers the disk size it claims.
    await sr.faults.truncateCbtBitmap(s2.uuid, 4)
    expect(await rejection(sr.listChangedBlocks(s1.uuid, s2.uuid))).toMatchObject({
      code: 'SR_BACKEND_FAILURE_459',
      params: ['', 'Changed block tracking log is in an inconsistent state. [opterr=Inconsistent bitmaps]', ''],
    })

    // After disable_cbt the leaf has no log: older snapshots can no longer reach it.
    await sr.disableCbt(disk.uuid)
    expect(sr.vdi(disk.uuid).cbtEnabled).toBe(false)
    expect((await rejection(sr.listChangedBlocks(s1.uuid, disk.uuid))).code).toBe('SR_BACKEND_FAILURE_460')
  })

  it('zero-extends older bitmaps after a resize', async () => {
    const { sr } = await setup()
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.enableCbt(disk.uuid)
    const s0 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.write(disk.uuid, 0, pattern(10, 1))
    await sr.snapshotVdi(disk.uuid)
    await sr.resizeVdi(disk.uuid, 128 * MiB)
    expect(sr.vdi(disk.uuid).virtualSize).toBe(128 * MiB)
    await sr.write(disk.uuid, 100 * MiB, pattern(10, 2))
    const s2 = (await sr.snapshotVdi(disk.uuid)).snapshot
    const answer = await sr.listChangedBlocks(s0.uuid, s2.uuid)
    expect(Buffer.from(answer, 'base64')).toHaveLength(sizes.cbtBitmapBytes(128 * MiB))
    expect(changedRegions(answer)).toEqual([0, 1600])
    expect(await rejection(sr.resizeVdi(disk.uuid, 100 * MiB))).toMatchObject({
      code: 'SR_BACKEND_FAILURE_79',
      params: ['', 'VDI Invalid size [opterr=shrinking not allowed]', ''],
    })
  })

  it('enforces the enable_cbt preconditions', async () => {
    const { manager, records, sr } = await setup('lvm')
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    const used = sr.facts().physicalUtilisation
    await sr.enableCbt(disk.uuid)
    expect(sr.facts().physicalUtilisation - used).toBe(4 * MiB)
    const snap = (await sr.snapshotVdi(disk.uuid)).snapshot
    expect(await rejection(sr.enableCbt(snap.uuid))).toMatchObject({
      code: 'OPERATION_NOT_ALLOWED',
      params: [`VDI is a snapshot: ${snap.uuid}`],
    })
    const suspend = await sr.createVdi({ virtualSize: 64 * MiB })
    records.setVdi(suspend.uuid, { type: 'suspend' })
    expect(await rejection(sr.enableCbt(suspend.uuid))).toMatchObject({
      code: 'VDI_INCOMPATIBLE_TYPE',
      params: [suspend.uuid, 'suspend'],
    })
    records.setVdi(suspend.uuid, { type: 'user', onBoot: 'reset' })
    expect((await rejection(sr.enableCbt(suspend.uuid))).code).toBe('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION')
    const raw = await sr.createVdi({ virtualSize: 64 * MiB, raw: true })
    expect(raw.smConfig.vdi_type).toBe('aio')
    expect(await rejection(sr.enableCbt(raw.uuid))).toMatchObject({
      code: 'SR_BACKEND_FAILURE_66',
      params: ['', 'Invalid VDI type [opterr=Raw VDI or snapshot not permitted]', ''],
    })
    const iso = manager.sr((await manager.createSr({ type: 'iso', physicalSize: GiB })).uuid)
    const image = await iso.createVdi({ virtualSize: MiB })
    expect(await rejection(iso.enableCbt(image.uuid))).toMatchObject({
      code: 'SR_OPERATION_NOT_SUPPORTED',
      params: [iso.uuid],
    })
  })

  it('data_destroy keeps a cbt_metadata VDI that still anchors list_changed_blocks, and kicks the GC', async () => {
    const { sr } = await setup('ext', { dataDestroyDetachWaitMs: 100 })
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.write(disk.uuid, 0, pattern(BLOCK_SIZE, 1))
    const plainSnap = (await sr.snapshotVdi(disk.uuid)).snapshot
    expect(await rejection(sr.dataDestroyVdi(plainSnap.uuid))).toMatchObject({
      code: 'VDI_NO_CBT_METADATA',
      params: [plainSnap.uuid],
    })
    await sr.destroyVdi(plainSnap.uuid)
    await sr.gc.whenIdle()

    await sr.enableCbt(disk.uuid)
    expect(await rejection(sr.dataDestroyVdi(disk.uuid))).toMatchObject({
      code: 'OPERATION_NOT_ALLOWED',
      params: [`VDI is not a snapshot: ${disk.uuid}`],
    })
    await sr.write(disk.uuid, BLOCK_SIZE, pattern(10, 2))
    const s1 = (await sr.snapshotVdi(disk.uuid)).snapshot
    await sr.attach(s1.uuid, { holder: 'export', readOnly: true })
    expect(await rejection(sr.dataDestroyVdi(s1.uuid))).toMatchObject({
      code: 'VDI_IN_USE',
      params: [s1.uuid, 'data_destroy'],
    })
    const used = sr.facts().physicalUtilisation
    const destroying = sr.dataDestroyVdi(s1.uuid)
    await sr.detach(s1.uuid, 'export')
    const facts = await destroying
    expect(facts).toMatchObject({
      dataDestroyed: true,
      cbtEnabled: true,
      managed: true,
      physicalUtilisation: 0,
      virtualSize: 64 * MiB,
      vhdUuid: null,
    })
    expect(sr.facts().physicalUtilisation).toBe(used - sizes.calcOverheadEmpty(64 * MiB))
    expect(sr.facts().virtualAllocation).toBe(64 * MiB)
    await sr.gc.whenIdle()
    expect(sr.depth(disk.uuid)).toBe(1)

    await sr.write(disk.uuid, 2 * BLOCK_SIZE, pattern(10, 3))
    const s2 = (await sr.snapshotVdi(disk.uuid)).snapshot
    expect(xoBlocks(await sr.listChangedBlocks(s1.uuid, s2.uuid))).toEqual([2])
    expect(await rejection(sr.snapshotVdi(s1.uuid))).toMatchObject({
      code: 'VDI_INCOMPATIBLE_TYPE',
      params: [s1.uuid, 'cbt_metadata'],
    })
    expect(await sr.dataDestroyVdi(s1.uuid)).toMatchObject({ dataDestroyed: true })
    await sr.destroyVdi(s1.uuid)
    expect(sr.has(s1.uuid)).toBe(false)
  })

  it('disables CBT with a message when a log was left open by a host crash', async () => {
    const { manager, sr, messages } = await setup()
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.enableCbt(disk.uuid)
    await sr.attach(disk.uuid, { holder: 'vbd-1' })
    await manager.hostReboot()
    await sr.attach(disk.uuid, { holder: 'vbd-1' })
    expect(sr.vdi(disk.uuid).cbtEnabled).toBe(true)
    await manager.hostReboot({ crash: true })
    expect(messages).toEqual([])
    await sr.attach(disk.uuid, { holder: 'vbd-1' })
    expect(sr.vdi(disk.uuid).cbtEnabled).toBe(false)
    expect(messages).toEqual([
      expect.objectContaining({
        action: 'create',
        name: 'VDI_CBT_METADATA_INCONSISTENT',
        priority: 3,
        cls: 'VDI',
        objUuid: disk.uuid,
        body: `Changed Block Tracking metadata is inconsistent for disk ${disk.uuid}.`,
      }),
    ])
  })
})

describe('CBT switching itself off', () => {
  it('on a failed log resize and on a snapshot that cannot create the new log, with messages', async () => {
    const { sr, messages } = await setup()
    const disk = await sr.createVdi({ virtualSize: 64 * MiB })
    await sr.enableCbt(disk.uuid)
    sr.faults.failNextCbtSnapshot()
    await sr.write(disk.uuid, 0, pattern(10, 1))
    const { snapshot } = await sr.snapshotVdi(disk.uuid)
    expect(snapshot.cbtEnabled).toBe(true)
    expect(sr.vdi(disk.uuid).cbtEnabled).toBe(false)
    // The chain ends at the snapshot: the disk no longer has a log to reach.
    expect((await rejection(sr.listChangedBlocks(snapshot.uuid, disk.uuid))).code).toBe('SR_BACKEND_FAILURE_460')
    expect(messages.at(-1)).toMatchObject({
      name: 'VDI_CBT_SNAPSHOT_FAILED',
      cls: 'VDI',
      objUuid: disk.uuid,
      body: `Creating CBT metadata log for disk ${disk.uuid} failed.`,
    })

    await sr.enableCbt(disk.uuid)
    sr.faults.failNextCbtResize()
    expect((await sr.resizeVdi(disk.uuid, 128 * MiB)).virtualSize).toBe(128 * MiB)
    expect(sr.vdi(disk.uuid).cbtEnabled).toBe(false)
    expect(messages.at(-1)).toMatchObject({
      name: 'VDI_CBT_RESIZE_FAILED',
      body: `Resizing of CBT metadata for disk ${disk.uuid} failed.`,
    })
  })
})
