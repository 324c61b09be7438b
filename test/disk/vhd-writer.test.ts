import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openLocalFile } from '../../provider/disk/io'
import { VhdChain } from '../../provider/disk/vhd/chain'
import { createVhdStreamFromRawBlocks, writeVhdFileFromRawStream } from '../../provider/disk/vhd/raw-to-vhd'
import { createVhdStream, vhdStreamLength } from '../../provider/disk/vhd/stream-writer'
import { checkVhdFile, VhdFile } from '../../provider/disk/vhd/vhd-file'
import {
  BLOCK,
  type DiskModel,
  MiB,
  modelRaw,
  qemuConvertToRaw,
  qemuRaw,
  qemuVirtualSize,
  randomBlock,
  sh,
  tempDir,
  writeStreamToFile,
} from './helpers'

let dir: { path: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(() => dir.cleanup())

async function writeExport(
  name: string,
  size: number,
  model: DiskModel,
  extra: { blockSize?: number } = {},
): Promise<string> {
  const path = join(dir.path, name)
  const blocks = [...model.keys()].sort((a, b) => a - b)
  await writeStreamToFile(
    createVhdStream({
      virtualSize: size,
      diskType: 'dynamic',
      uuid: randomUUID(),
      blocks,
      readBlock: async (index) => model.get(index)!,
      blockSize: extra.blockSize,
    }),
    path,
  )
  return path
}

describe('VHD stream writer, judged by qemu-img', () => {
  it('writes random blocks, an allocated zero block and holes that qemu reads back exactly', async () => {
    const size = 16 * MiB
    const model: DiskModel = new Map([
      [0, randomBlock()],
      [2, Buffer.alloc(BLOCK)],
      [3, randomBlock()],
      [7, randomBlock()],
    ])
    const path = await writeExport('dense.vhd', size, model)
    expect(await qemuVirtualSize(path)).toBe(size)
    expect((await qemuRaw(path, dir.path)).equals(modelRaw(model, size))).toBe(true)
    const summary = await checkVhdFile(await openLocalFile(path), { name: path })
    expect(summary.allocatedBlocks).toBe(4)
  })

  it('handles a virtual size that is not a multiple of 2 MiB (partial last block)', async () => {
    const size = 5 * MiB + 3 * 512
    const last = randomBlock()
    const model: DiskModel = new Map([
      [0, randomBlock()],
      [2, last],
    ])
    const path = await writeExport('partial.vhd', size, model)
    expect(await qemuVirtualSize(path)).toBe(size)
    const raw = await qemuRaw(path, dir.path)
    expect(raw.length).toBe(size)
    expect(raw.equals(modelRaw(model, size))).toBe(true)
  })

  it('accepts a short buffer for the last block and zero-pads it', async () => {
    const size = 3 * MiB
    const short = randomBlock(MiB)
    const path = join(dir.path, 'short.vhd')
    await writeStreamToFile(
      createVhdStream({
        virtualSize: size,
        diskType: 'dynamic',
        uuid: randomUUID(),
        blocks: [1],
        readBlock: async () => short,
      }),
      path,
    )
    const expected = Buffer.alloc(size)
    short.copy(expected, BLOCK)
    expect((await qemuRaw(path, dir.path)).equals(expected)).toBe(true)
  })

  it('writes a sparse disk larger than 4 GiB that qemu reads at the right offsets', async () => {
    const size = 5 * 1024 * MiB + 4 * MiB
    const model: DiskModel = new Map([
      [0, randomBlock()],
      [1000, randomBlock()],
      [2047, randomBlock()],
      [2048, randomBlock()],
      [2561, randomBlock()],
    ])
    const path = await writeExport('big.vhd', size, model)
    expect(await qemuVirtualSize(path)).toBe(size)
    // qemu's raw conversion of the whole disk, compared with the image we meant (written sparse)
    const expectedPath = join(dir.path, 'big-expected.raw')
    const expected = await openLocalFile(expectedPath, 'create')
    await expected.truncate(size)
    for (const [index, data] of model) await expected.write(index * BLOCK, data)
    await expected.close()
    const converted = join(dir.path, 'big.raw')
    await qemuConvertToRaw(path, converted)
    await sh('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', '-s', converted, expectedPath])
    // and our own reader agrees on the blocks qemu read
    const vhd = await VhdFile.open(await openLocalFile(path), { name: path })
    const chain = VhdChain.from([vhd])
    for (const [index, data] of model) expect((await chain.readBlock(index)).equals(data)).toBe(true)
    expect(
      (await chain.read(2048 * BLOCK - 512, 1024)).equals(
        Buffer.concat([model.get(2047)!.subarray(BLOCK - 512), model.get(2048)!.subarray(0, 512)]),
      ),
    ).toBe(true)
    await chain.close()
  })

  it('writes other power-of-two block sizes that qemu reads too', async () => {
    for (const blockSize of [512 * 1024, 4 * MiB]) {
      const size = 12 * MiB
      const model: DiskModel = new Map([
        [1, randomBlock(blockSize)],
        [2, randomBlock(blockSize)],
      ])
      const path = await writeExport(`bs-${blockSize}.vhd`, size, model, { blockSize })
      expect((await qemuRaw(path, dir.path)).equals(modelRaw(model, size, blockSize))).toBe(true)
      const chain = VhdChain.from([await VhdFile.open(await openLocalFile(path))])
      expect((await chain.read(0, size)).equals(modelRaw(model, size, blockSize))).toBe(true)
      await chain.close()
    }
  })

  it('lays the stream out exactly like XAPI (offsets, bitmaps, trailing footer) and announces its length', async () => {
    const size = 10 * MiB
    const model: DiskModel = new Map([
      [1, randomBlock()],
      [4, randomBlock()],
    ])
    const path = await writeExport('layout.vhd', size, model)
    const file = await openLocalFile(path)
    const bytes = await file.read(0, await file.size())
    await file.close()
    expect(bytes.length).toBe(vhdStreamLength({ virtualSize: size, blocks: [1, 4] }))
    expect(bytes.length).toBe(2048 + 512 + 2 * (512 + BLOCK) + 512)
    expect(bytes.subarray(0, 512).equals(bytes.subarray(bytes.length - 512))).toBe(true)
    expect(bytes.toString('latin1', 0, 8)).toBe('conectix')
    expect(bytes.toString('latin1', 28, 32)).toBe('caml')
    expect(bytes.toString('latin1', 512, 520)).toBe('cxsparse')
    expect(Number(bytes.readBigUInt64BE(512 + 16))).toBe(2048)
    expect(bytes.subarray(1536, 2048).every((b) => b === 0)).toBe(true)
    expect(bytes.readUInt32BE(2048 + 4)).toBe((2048 + 512) / 512)
    expect(bytes.readUInt32BE(2048 + 16)).toBe((2048 + 512 + 512 + BLOCK) / 512)
    expect(bytes.readUInt32BE(2048)).toBe(0xffffffff)
    expect(bytes.subarray(2560, 3072).every((b) => b === 0xff)).toBe(true)
  })

  it('rejects bad arguments with VHD_INVALID_ARGUMENT', () => {
    const base = { virtualSize: 4 * MiB, uuid: randomUUID(), readBlock: async () => Buffer.alloc(0) }
    expect(() => createVhdStream({ ...base, diskType: 'dynamic', blocks: [1, 0] })).toThrow(
      expect.objectContaining({ code: 'VHD_INVALID_ARGUMENT', field: 'blocks[1]' }),
    )
    expect(() => createVhdStream({ ...base, diskType: 'dynamic', blocks: [2] })).toThrow(
      expect.objectContaining({ code: 'VHD_INVALID_ARGUMENT' }),
    )
    expect(() => createVhdStream({ ...base, diskType: 'differencing', blocks: [] })).toThrow(
      expect.objectContaining({ field: 'parent' }),
    )
    expect(() => createVhdStream({ ...base, virtualSize: 1000, diskType: 'dynamic', blocks: [] })).toThrow(
      expect.objectContaining({ field: 'virtualSize' }),
    )
    expect(() => createVhdStream({ ...base, uuid: 'nope', diskType: 'dynamic', blocks: [] })).toThrow(
      expect.objectContaining({ field: 'footer.uniqueId' }),
    )
  })
})

describe('raw to dynamic VHD', () => {
  it('builds a stream from raw blocks, skipping zero blocks', async () => {
    const size = 9 * MiB
    const raw = Buffer.alloc(size)
    randomBlock(300).copy(raw, 5)
    randomBlock(BLOCK).copy(raw, 3 * BLOCK)
    randomBlock(1000).copy(raw, size - 1000)
    const stream = await createVhdStreamFromRawBlocks({
      virtualSize: size,
      uuid: randomUUID(),
      readBlock: async (index) => raw.subarray(index * BLOCK, Math.min(size, (index + 1) * BLOCK)),
    })
    const path = join(dir.path, 'from-raw-blocks.vhd')
    await writeStreamToFile(stream, path)
    const vhd = await VhdFile.open(await openLocalFile(path))
    expect(vhd.allocatedBlocks()).toEqual([0, 3, 4])
    await vhd.close()
    expect((await qemuRaw(path, dir.path)).equals(raw)).toBe(true)
  })

  it('writes a file from a raw stream in one pass, skipping zero blocks', async () => {
    const size = 7 * MiB + 512
    const raw = Buffer.alloc(size)
    randomBlock(4096).copy(raw, BLOCK + 100)
    randomBlock(512).copy(raw, size - 512)
    const path = join(dir.path, 'from-raw-stream.vhd')
    const file = await openLocalFile(path, 'create')
    const chunks = (async function* () {
      for (let i = 0; i < size; i += 65536) yield raw.subarray(i, i + 65536)
    })()
    expect(await writeVhdFileFromRawStream(chunks, file, { virtualSize: size, uuid: randomUUID() })).toEqual([1, 3])
    await file.close()
    await checkVhdFile(await openLocalFile(path))
    expect((await qemuRaw(path, dir.path)).equals(raw)).toBe(true)
  })
})
