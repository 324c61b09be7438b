import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openLocalFile } from '../../provider/disk/io'
import { VhdChain } from '../../provider/disk/vhd/chain'
import { checkVhdFile, VhdFile } from '../../provider/disk/vhd/vhd-file'
import { MiB, sh, tempDir } from './helpers'

let dir: { path: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(() => dir.cleanup())

/** Our raw view of a single dynamic VHD, through the chain reader's stream. */
async function ourRaw(path: string): Promise<Buffer> {
  const chain = VhdChain.from([await VhdFile.open(await openLocalFile(path), { name: path })])
  const chunks: Buffer[] = []
  for await (const chunk of chain.rawStream()) chunks.push(chunk as Buffer)
  await chain.close()
  return Buffer.concat(chunks)
}

/** qemu's raw view with its default size rule (for its own `qemu` creator that is CHS, which equals its current size). */
async function qemuRawDefault(path: string): Promise<Buffer> {
  const out = `${path}.raw`
  await sh('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', path, out])
  const file = await openLocalFile(out)
  const data = await file.read(0, await file.size())
  await file.close()
  return data
}

describe('reading VHDs written by qemu-img', () => {
  it('reads a dynamic VHD created by qemu-img create and written by qemu-io', async () => {
    const path = join(dir.path, 'qemu-io.vhd')
    await sh('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic', path, '64M'])
    await sh('qemu-io', [
      '-f',
      'vpc',
      '-c',
      'write -P 0xab 1M 64k',
      '-c',
      'write -P 0xcd 20M 3M',
      '-c',
      'write -P 0x11 63M 512',
      '-c',
      'write -z 21M 4k',
      path,
    ])
    const summary = await checkVhdFile(await openLocalFile(path), { name: path })
    expect(summary.footer.creatorApplication).toBe('qemu')
    expect(summary.header.tableOffset).toBe(1536)
    const ours = await ourRaw(path)
    expect(ours.length).toBe(summary.footer.currentSize)
    const expected = await qemuRawDefault(path)
    expect(ours.equals(expected)).toBe(true)
    expect(ours[MiB]).toBe(0xab)
    expect(ours[20 * MiB + 3 * MiB - 1]).toBe(0xcd)
    expect(ours[21 * MiB]).toBe(0)
  })

  it('reads a VHD converted from raw by qemu-img convert (with and without force_size)', async () => {
    const rawPath = join(dir.path, 'source.raw')
    const raw = Buffer.alloc(24 * MiB)
    randomBytes(5 * MiB).copy(raw, 3 * MiB + 4096)
    randomBytes(700).copy(raw, 24 * MiB - 700)
    await writeFile(rawPath, raw)
    for (const forceSize of ['off', 'on']) {
      const path = join(dir.path, `converted-${forceSize}.vhd`)
      await sh('qemu-img', [
        'convert',
        '-f',
        'raw',
        '-O',
        'vpc',
        '-o',
        `subformat=dynamic,force_size=${forceSize}`,
        rawPath,
        path,
      ])
      const vhd = await VhdFile.open(await openLocalFile(path))
      expect(vhd.footer.creatorApplication).toBe(forceSize === 'on' ? 'qem2' : 'qemu')
      await vhd.close()
      const ours = await ourRaw(path)
      expect(ours.equals(await qemuRawDefault(path))).toBe(true)
      // the source bytes are all there (qemu rounds the size up to whole CHS cylinders without force_size)
      expect(ours.subarray(0, raw.length).equals(raw)).toBe(true)
    }
  })

  it('writes blocks into a qemu-made VHD that qemu then reads back', async () => {
    const path = join(dir.path, 'write-into.vhd')
    await sh('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic', path, '16M'])
    await sh('qemu-io', ['-f', 'vpc', '-c', 'write -P 0x5a 0 1M', path])
    const fresh = randomBytes(2 * MiB)
    const replaced = randomBytes(2 * MiB)
    const vhd = await VhdFile.open(await openLocalFile(path, 'update'), { name: path })
    const full = Buffer.alloc(512, 0xff)
    await vhd.writeBlock(3, { bitmap: full, data: fresh })
    await vhd.writeBlock(0, { bitmap: full, data: replaced })
    await vhd.close()
    await checkVhdFile(await openLocalFile(path))
    const raw = await qemuRawDefault(path)
    expect(raw.subarray(0, 2 * MiB).equals(replaced)).toBe(true)
    expect(raw.subarray(6 * MiB, 8 * MiB).equals(fresh)).toBe(true)
    expect(raw.subarray(2 * MiB, 6 * MiB).every((b) => b === 0)).toBe(true)
    expect((await ourRaw(path)).equals(raw)).toBe(true)
  })
})
