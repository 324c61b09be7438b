import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FileBackend } from '../../../provider/remote/file/file-backend'
import { acquireLock } from '../../../provider/remote/lock'
import { applyRetention, cleanVm, planRetention } from '../../../provider/remote/maintenance'
import { openBackup, readOnlyBackend } from '../../../provider/remote/restore'
import { exposeGc } from '../../disk/helpers'
import {
  type BuiltBackup,
  DAY,
  expectBackupRestores,
  expectQemuReadsRestore,
  expectVhdStreamEquals,
  listTree,
  MiB,
  Repository,
  randomBlocks,
  T0,
} from '../maintenance/fixtures'
import { writeXoRepository, XO_VM } from './xo-fixture'

let root: string
let backend: FileBackend
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xcp-restore-'))
  backend = await FileBackend.open(root)
})
afterAll(() => rm(root, { recursive: true, force: true }))

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

describe('restoring delta backups', () => {
  let repo: Repository
  let chain: BuiltBackup[]

  beforeAll(async () => {
    repo = new Repository(backend, {
      disks: [
        { ref: 'OpaqueRef:root', liveUuid: 'a0000000-0000-4000-8000-000000000001', virtualSize: 40 * MiB },
        // Not a multiple of the block size: the last block is partial.
        { ref: 'OpaqueRef:data', liveUuid: 'a0000000-0000-4000-8000-000000000002', virtualSize: 13 * MiB + 512 },
      ],
    })
    chain = [await repo.full(T0, { 'OpaqueRef:root': randomBlocks(12, 20), 'OpaqueRef:data': [0, 3, 6] })]
    for (let i = 1; i <= 5; i++) {
      chain.push(
        await repo.delta(T0 + i * DAY, { 'OpaqueRef:root': randomBlocks(3, 20), 'OpaqueRef:data': randomBlocks(1, 7) }),
      )
    }
  })

  it('gives back every point of a chain byte for byte, through our chain reader and through qemu-img', async () => {
    for (const backup of chain) await expectBackupRestores(backend, backup)
    await expectQemuReadsRestore(backend, chain[0]!)
    await expectQemuReadsRestore(backend, chain[5]!)
  })

  it('gives back every kept point byte for byte after retention and merges', async () => {
    const lock = await acquireLock(backend, repo.dir)
    try {
      const plan = await planRetention(
        backend,
        { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'delta' },
        { retention: 3 },
        'after-transfer',
      )
      await applyRetention(backend, plan, { lock })
      const result = await cleanVm(backend, repo.vmUuid, { merge: true, remove: true, lock })
      expect(result.merges).toHaveLength(6) // 3 per disk
    } finally {
      await lock.release()
    }
    for (const backup of chain.slice(3)) {
      await expectBackupRestores(backend, backup)
      await expectQemuReadsRestore(backend, backup)
    }
  })

  it('describes what a restore recreates: the VM, its disks with their VBDs, and the chain behind each disk', async () => {
    const reader = await openBackup(backend, chain[5]!.path)
    if (reader.mode !== 'delta') throw new Error('expected a delta backup')
    expect(reader.records.vm).toMatchObject({ uuid: repo.vmUuid, name_label: 'web-01' })
    expect(reader.disks.map((d) => d.ref).sort()).toEqual(['OpaqueRef:data', 'OpaqueRef:root'])
    const root0 = reader.disks.find((d) => d.ref === 'OpaqueRef:root')!
    expect(root0.vdi.uuid).toBe(chain[5]!.disks.get('OpaqueRef:root')!.uuid)
    expect(root0.vbds).toHaveLength(1)
    expect(root0.vbds[0]!.VDI).toBe('OpaqueRef:root')
    const image = await reader.openDisk('OpaqueRef:root')
    expect(image.chain).toEqual(
      chain
        .slice(3)
        .reverse()
        .map((b) => b.disks.get('OpaqueRef:root')!.vhd),
    )
    expect(image.virtualSize).toBe(40 * MiB)
    const bytes = await readAll(image.vhdStream())
    expect(bytes.length).toBe(image.vhdStreamLength)
    await expect(reader.openDisk('OpaqueRef:nope')).rejects.toThrow(/has no disk OpaqueRef:nope; its disks are/)
  })

  it('streams a 200 GiB sparse disk with only its allocated blocks', async () => {
    const big = new Repository(backend, {
      disks: [
        { ref: 'OpaqueRef:big', liveUuid: 'b0000000-0000-4000-8000-000000000001', virtualSize: 200 * 1024 * MiB },
      ],
    })
    await big.full(T0, [0, 50_000, 102_399])
    const delta = await big.delta(T0 + DAY, [50_000, 7])
    await expectBackupRestores(backend, delta, { sparse: true })
    const reader = await openBackup(backend, delta.path)
    if (reader.mode !== 'delta') throw new Error('expected a delta backup')
    const image = await reader.openDisk('OpaqueRef:big')
    expect(image.allocatedBlocks).toBe(4)
    expect(image.vhdStreamLength).toBe(2048 + 102_400 * 4 + 4 * (512 + 2 * MiB) + 512)
    await image.close()
  })

  it('streams with flat retained memory, whatever the amount of data', async () => {
    const gc = exposeGc()
    const large = new Repository(backend, {
      disks: [{ ref: 'OpaqueRef:large', liveUuid: 'c0000000-0000-4000-8000-000000000001', virtualSize: 1024 * MiB }],
    })
    await large.full(T0, randomBlocks(160, 512))
    const delta = await large.delta(T0 + DAY, randomBlocks(40, 512))
    const reader = await openBackup(backend, delta.path)
    if (reader.mode !== 'delta') throw new Error('expected a delta backup')
    const image = await reader.openDisk('OpaqueRef:large')
    await gc()
    const baseline = process.memoryUsage()
    let peak = 0
    let bytes = 0
    let n = 0
    for await (const chunk of image.vhdStream()) {
      bytes += (chunk as Buffer).length
      if (++n % 256 === 0) {
        await gc()
        const now = process.memoryUsage()
        peak = Math.max(peak, now.arrayBuffers - baseline.arrayBuffers, now.heapUsed - baseline.heapUsed)
      }
    }
    expect(bytes).toBe(image.vhdStreamLength)
    expect(bytes).toBeGreaterThan(320 * MiB)
    expect(peak).toBeLessThan(32 * MiB)
  })

  it('says what is wrong when the chain is broken or the backup does not exist', async () => {
    const broken = new Repository(backend)
    await broken.full(T0, [0, 1])
    const d1 = await broken.delta(T0 + DAY, [1])
    await unlink(join(root, broken.backups[0]!.disks.get(broken.disks[0]!.ref)!.vhd))
    const reader = await openBackup(backend, d1.path)
    if (reader.mode !== 'delta') throw new Error('expected a delta backup')
    await expect(reader.openDisk(broken.disks[0]!.ref)).rejects.toThrow(
      /the parent .*20240501T030000Z\.vhd named by this differencing disk cannot be opened/,
    )
    await expect(openBackup(backend, `${broken.dir}/20000101T000000Z.json`)).rejects.toThrow(
      /no backup ".*20000101T000000Z\.json" on remote .*: list them with xcp-backup ls/,
    )
  })
})

describe('restoring full backups', () => {
  it('streams the XVA as stored, and checked against its chunk hashes and .checksum', async () => {
    const repo = new Repository(backend)
    for (const compression of [undefined, 'gzip', 'zstd'] as const) {
      const backup = await repo.xva(T0 + (compression === undefined ? 0 : compression === 'gzip' ? 1 : 2) * DAY, {
        compression,
      })
      const reader = await openBackup(backend, backup.path)
      if (reader.mode !== 'full') throw new Error('expected a full backup')
      // Buffer.equals: vitest's deep equality walks megabytes byte by byte.
      expect((await readAll(await reader.xvaBytes())).equals(backup.xva!)).toBe(true)
      expect((await readAll(await reader.checkedXva())).equals(backup.xva!)).toBe(true)
    }
  })

  it('fails the checked stream on a corrupt chunk, a cut file, or a checksum that does not match', async () => {
    const repo = new Repository(backend)
    const backup = await repo.xva(T0 + 10 * DAY)
    const xvaFile = join(root, backup.path.replace(/\.json$/, '.xva'))
    const original = await readFile(xvaFile)
    const reader = await openBackup(backend, backup.path)
    if (reader.mode !== 'full') throw new Error('expected a full backup')

    const corrupt = Buffer.from(original)
    corrupt[2048 + 1000] = corrupt[2048 + 1000]! ^ 1 // inside the first chunk's data
    await writeFile(xvaFile, corrupt)
    await expect(readAll(await reader.checkedXva())).rejects.toThrow(/does not match its xxhash/)
    // The plain bytes are what is stored, damage included: the caller chose not to check.
    expect((await readAll(await reader.xvaBytes())).equals(corrupt)).toBe(true)

    await writeFile(xvaFile, original.subarray(0, original.length - 4096))
    await expect(readAll(await reader.checkedXva())).rejects.toThrow(/cut|truncated|ended/i)

    await writeFile(xvaFile, original)
    await writeFile(`${xvaFile}.checksum`, `$1$$${'0'.repeat(32)}`)
    await expect(readAll(await reader.checkedXva())).rejects.toThrow(
      /MD5 is [0-9a-f]{32} but its \.checksum file says 0{32}/,
    )
  })
})

describe('restoring what Xen Orchestra wrote', () => {
  it('follows XO chains and reads XO full backups', async () => {
    const xoRoot = await mkdtemp(join(tmpdir(), 'xcp-restore-xo-'))
    try {
      const contents = await writeXoRepository(xoRoot)
      const xo = await FileBackend.open(xoRoot)
      const delta = await openBackup(xo, `xo-vm-backups/${XO_VM}/20260822T030012Z.json`)
      if (delta.mode !== 'delta') throw new Error('expected a delta backup')
      const root0 = await delta.openDisk('OpaqueRef:aa000000-0000-4000-8000-000000000001')
      expect(root0.chain.map((path) => path.split('/').at(-1))).toEqual([
        '20260822T030012Z.vhd',
        '20260820T030012Z.vhd',
      ])
      await expectVhdStreamEquals(root0.vhdStream(), contents.root)
      const data = await delta.openDisk('OpaqueRef:aa000000-0000-4000-8000-000000000002')
      expect(data.virtualSize).toBe(20 * 1024 ** 3)
      await expectVhdStreamEquals(data.vhdStream(), contents.data)
      const full = await openBackup(xo, `xo-vm-backups/${XO_VM}/20260821T030012Z.json`)
      if (full.mode !== 'full') throw new Error('expected a full backup')
      expect((await readAll(await full.checkedXva())).length).toBeGreaterThan(1024 * 1024)
    } finally {
      await rm(xoRoot, { recursive: true, force: true })
    }
  })
})

describe('restores never write', () => {
  it('refuses every change through the read-only view, and opening a backup leaves the remote as it was', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, [0])
    const d1 = await repo.delta(T0 + DAY, [1])
    await rm(join(root, repo.dir, 'cache.json.gz'), { force: true })
    const before = await listTree(join(root, repo.dir))
    const reader = await openBackup(backend, d1.path)
    if (reader.mode !== 'delta') throw new Error('expected a delta backup')
    await readAll((await reader.openDisk(repo.disks[0]!.ref)).rawStream())
    expect(await listTree(join(root, repo.dir))).toEqual(before)

    const view = readOnlyBackend(backend)
    await expect(view.save('x', [Buffer.from('x')])).rejects.toMatchObject({ code: 'EROFS' })
    await expect(view.open(d1.path, 'update')).rejects.toThrow(
      /open \(update\) ".*" refused: remote .* is open read-only/,
    )
    await expect(view.remove(d1.path)).rejects.toMatchObject({ code: 'EROFS' })
    await expect(view.rename(d1.path, 'y')).rejects.toMatchObject({ code: 'EROFS' })
  })
})
