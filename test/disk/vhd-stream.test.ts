import { randomUUID } from 'node:crypto'
import { mkdir, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openLocalFile } from '../../provider/disk/io'
import { openVhdChain, VhdChain } from '../../provider/disk/vhd/chain'
import { DiskType, PlatformCode } from '../../provider/disk/vhd/constants'
import { createVhdRewriteTransform, rewriteVhdStream } from '../../provider/disk/vhd/rewrite'
import { parseVhdStream } from '../../provider/disk/vhd/stream-parser'
import { createVhdStream, vhdStreamChunks } from '../../provider/disk/vhd/stream-writer'
import { checkVhdFile, VhdFile } from '../../provider/disk/vhd/vhd-file'
import { BLOCK, type DiskModel, exposeGc, MiB, modelRaw, randomBlock, tempDir, writeStreamToFile } from './helpers'

let dir: { path: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(() => dir.cleanup())

describe('VHD stream writer → parser', () => {
  it('round-trips footer, header, BAT and every block in file order', async () => {
    const size = 11 * MiB
    const model: DiskModel = new Map([
      [0, randomBlock()],
      [3, randomBlock()],
      [5, randomBlock()],
    ])
    const uuid = randomUUID()
    const parentUuid = randomUUID()
    const stream = createVhdStream({
      virtualSize: size,
      diskType: 'differencing',
      uuid,
      parent: { uuid: parentUuid, timestamp: 777, name: '/var/run/sr-mount/sr/base.vhd' },
      blocks: [0, 3, 5],
      readBlock: async (index) => model.get(index)!,
    })
    const seen: number[] = []
    let ended = false
    for await (const item of parseVhdStream(stream, { name: 'round trip' })) {
      if (item.type === 'footer') {
        expect(item.footer).toMatchObject({
          uniqueId: uuid,
          currentSize: size,
          diskType: DiskType.Differencing,
          creatorApplication: 'caml',
          timestamp: 0,
        })
      } else if (item.type === 'header') {
        expect(item.header).toMatchObject({
          tableOffset: 2048,
          blockSize: BLOCK,
          maxTableEntries: 6,
          parentUniqueId: parentUuid,
          parentTimestamp: 777,
        })
        expect(item.header.parentUnicodeName).toBe('/var/run/sr-mount/sr/base.vhd')
        expect(item.header.parentLocators[0]).toEqual({
          platformCode: PlatformCode.MacX,
          platformDataSpace: 512,
          platformDataLength: 'file:///var/run/sr-mount/sr/base.vhd'.length,
          platformDataOffset: 1536,
        })
      } else if (item.type === 'bat') {
        expect(item.blocks).toEqual([0, 3, 5])
      } else if (item.type === 'block') {
        seen.push(item.index)
        expect(item.bitmap.every((b) => b === 0xff)).toBe(true)
        expect(item.data.equals(model.get(item.index)!)).toBe(true)
      } else if (item.type === 'end') {
        ended = true
        expect(item.length).toBe(2048 + 512 + 3 * (512 + BLOCK) + 512)
      }
    }
    expect(seen).toEqual([0, 3, 5])
    expect(ended).toBe(true)
  })

  it('parses streams arriving in small uneven chunks', async () => {
    const model: DiskModel = new Map([[1, randomBlock()]])
    const chunks: Buffer[] = []
    for await (const chunk of vhdStreamChunks({
      virtualSize: 4 * MiB,
      diskType: 'dynamic',
      uuid: randomUUID(),
      blocks: [1],
      readBlock: async (i) => model.get(i)!,
    })) {
      chunks.push(chunk)
    }
    const all = Buffer.concat(chunks)
    const pieces = (async function* () {
      for (let i = 0, n = 1; i < all.length; i += n, n = (n * 7 + 3) % 5000 || 1) yield all.subarray(i, i + n)
    })()
    const blocks = []
    for await (const item of parseVhdStream(pieces)) if (item.type === 'block') blocks.push(item)
    expect(blocks.length).toBe(1)
    expect(blocks[0]!.data.equals(model.get(1)!)).toBe(true)
  })
})

describe('VHD rewrite while storing', () => {
  it('stores a full and a delta export that validate, chain by relative path and read back exactly', async () => {
    const vdiDir = join(dir.path, 'vdis', 'job', 'vdi')
    await mkdir(vdiDir, { recursive: true })
    const size = 9 * MiB
    const base: DiskModel = new Map([
      [0, randomBlock()],
      [1, randomBlock()],
      [4, randomBlock()],
    ])
    const delta: DiskModel = new Map([
      [1, randomBlock()],
      [2, randomBlock()],
    ])
    const fullSnapshotUuid = randomUUID()
    const deltaSnapshotUuid = randomUUID()

    // full export (XAPI gives a random uuid), stored with the snapshot uuid
    const fullPath = join(vdiDir, '20240101T000000Z.vhd')
    await pipeline(
      createVhdStream({
        virtualSize: size,
        diskType: 'dynamic',
        uuid: randomUUID(),
        blocks: [0, 1, 4],
        readBlock: async (i) => base.get(i)!,
      }),
      createVhdRewriteTransform({ uuid: fullSnapshotUuid }),
      (await import('node:fs')).createWriteStream(fullPath),
    )
    // delta export relative to the base: its parent id is the base's XAPI uuid, rewritten to the stored parent
    const deltaPath = join(vdiDir, '20240102T000000Z.vhd')
    await writeStreamToFile(
      rewriteVhdStream(
        createVhdStream({
          virtualSize: size,
          diskType: 'differencing',
          uuid: randomUUID(),
          parent: { uuid: randomUUID(), timestamp: 1, name: '/dev/VG_XenStorage/VHD-base' },
          blocks: [1, 2],
          readBlock: async (i) => delta.get(i)!,
        }),
        {
          uuid: deltaSnapshotUuid,
          parent: { uuid: fullSnapshotUuid, relativePath: '20240101T000000Z.vhd', timestamp: 42 },
        },
      ),
      deltaPath,
    )

    const full = await checkVhdFile(await openLocalFile(fullPath), { name: fullPath })
    expect(full.footer.uniqueId).toBe(fullSnapshotUuid)
    const stored = await checkVhdFile(await openLocalFile(deltaPath), { name: deltaPath })
    expect(stored.footer.uniqueId).toBe(deltaSnapshotUuid)
    expect(stored.header.parentUniqueId).toBe(fullSnapshotUuid)
    expect(stored.header.parentUnicodeName).toBe('20240101T000000Z.vhd')
    expect(stored.header.parentTimestamp).toBe(42)
    expect(stored.parentPath).toBe('20240101T000000Z.vhd')

    const leaf = await VhdFile.open(await openLocalFile(deltaPath))
    expect(await leaf.readParentLocators()).toEqual([
      { slot: 0, platform: 'W2ru', platformCode: PlatformCode.W2ru, path: '20240101T000000Z.vhd' },
    ])
    // the locator data is blktap's W2ru form, `.\name` in UTF-16LE, in the sector at 1536
    expect((await leaf.file.read(1536, 44)).toString('utf16le')).toBe('.\\20240101T000000Z.vhd')
    await leaf.close()

    const chain = await openVhdChain(deltaPath, (path) => openLocalFile(path))
    expect(chain.disks.map((d) => d.name)).toEqual([deltaPath, fullPath])
    const expected = modelRaw(base, size)
    for (const [index, data] of delta) data.copy(expected, index * BLOCK)
    expect((await chain.read(0, size)).equals(expected)).toBe(true)
    await chain.close()

    // without its parent the chain cannot be opened, and the error says who named the missing file
    await rename(fullPath, `${fullPath}.moved`)
    await expect(openVhdChain(deltaPath, (path) => openLocalFile(path))).rejects.toMatchObject({
      code: 'VHD_BAD_CHAIN',
      source: deltaPath,
      expected: `a VHD with unique id ${fullSnapshotUuid}`,
    })
  })

  it('refuses a parent for a dynamic disk and a relative path too long for the locator sector', async () => {
    const make = (type: 'dynamic' | 'differencing') =>
      createVhdStream({
        virtualSize: 2 * MiB,
        diskType: type,
        uuid: randomUUID(),
        parent: type === 'differencing' ? { uuid: randomUUID(), timestamp: 0, name: 'x' } : undefined,
        blocks: [],
        readBlock: async () => Buffer.alloc(0),
      })
    const drain = async (source: AsyncIterable<Buffer>) => {
      for await (const _ of source) {
        // consume
      }
    }
    await expect(
      drain(rewriteVhdStream(make('dynamic'), { parent: { uuid: randomUUID(), relativePath: 'a.vhd' } })),
    ).rejects.toMatchObject({
      code: 'VHD_INVALID_ARGUMENT',
    })
    await expect(
      drain(
        rewriteVhdStream(make('differencing'), {
          parent: { uuid: randomUUID(), relativePath: `${'d/'.repeat(130)}a.vhd` },
        }),
      ),
    ).rejects.toMatchObject({ code: 'VHD_NO_LOCATOR_SPACE' })
  })
})

describe('bounded memory', () => {
  it('streams 1.5 GiB of blocks of a 64 GiB disk through writer, rewrite and parser with flat retained memory', async () => {
    const gc = exposeGc()
    const blocks = Array.from({ length: 768 }, (_, i) => i * 40)
    const size = 64 * 1024 * MiB
    const stream = createVhdStream({
      virtualSize: size,
      diskType: 'dynamic',
      uuid: randomUUID(),
      blocks,
      readBlock: async (index) => Buffer.alloc(BLOCK, index & 0xff),
    })
    await gc()
    const baseline = process.memoryUsage()
    let peakRetained = 0
    let count = 0
    let bytes = 0
    for await (const item of parseVhdStream(rewriteVhdStream(stream, { uuid: randomUUID() }))) {
      if (item.type !== 'block') continue
      expect(item.data[0]).toBe(item.index & 0xff)
      bytes += item.data.length
      if (++count % 64 === 0) {
        await gc()
        const now = process.memoryUsage()
        peakRetained = Math.max(
          peakRetained,
          now.arrayBuffers - baseline.arrayBuffers,
          now.heapUsed - baseline.heapUsed,
        )
      }
    }
    expect(count).toBe(blocks.length)
    expect(bytes).toBe(768 * BLOCK)
    expect(peakRetained).toBeLessThan(32 * MiB)
  })

  it('streams the raw view of a multi-GiB sparse chain with flat retained memory', async () => {
    const gc = exposeGc()
    const path = join(dir.path, 'sparse-big.vhd')
    const size = 3 * 1024 * MiB
    await writeStreamToFile(
      createVhdStream({
        virtualSize: size,
        diskType: 'dynamic',
        uuid: randomUUID(),
        blocks: [0, 700, 1535],
        readBlock: async () => randomBlock(),
      }),
      path,
    )
    const chain = VhdChain.from([await VhdFile.open(await openLocalFile(path))])
    await gc()
    const baseline = process.memoryUsage().arrayBuffers
    let peak = 0
    let total = 0
    let n = 0
    for await (const chunk of Readable.from(chain.rawStream())) {
      total += (chunk as Buffer).length
      if (++n % 128 === 0) {
        await gc()
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline)
      }
    }
    await chain.close()
    expect(total).toBe(size)
    expect(peak).toBeLessThan(32 * MiB)
  })
})
