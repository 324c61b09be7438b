import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openLocalFile } from '../../provider/disk/io'
import { VhdChain } from '../../provider/disk/vhd/chain'
import { vhdChecksum } from '../../provider/disk/vhd/checksum'
import { VhdError } from '../../provider/disk/vhd/errors'
import { parseVhdStream } from '../../provider/disk/vhd/stream-parser'
import { vhdStreamChunks } from '../../provider/disk/vhd/stream-writer'
import { checkVhdFile, VhdFile } from '../../provider/disk/vhd/vhd-file'
import { BLOCK, MiB, randomBlock, tempDir } from './helpers'

let dir: { path: string; cleanup: () => Promise<void> }
let valid: Buffer
const BAT = 2048
const FIRST_BLOCK = 2560
const BLOCK_TOTAL = BLOCK + 512

beforeAll(async () => {
  dir = await tempDir()
  const chunks: Buffer[] = []
  const blocks = new Map([
    [0, randomBlock()],
    [1, randomBlock()],
    [3, randomBlock()],
  ])
  for await (const chunk of vhdStreamChunks({
    virtualSize: 8 * MiB,
    diskType: 'dynamic',
    uuid: randomUUID(),
    blocks: [0, 1, 3],
    readBlock: async (i) => blocks.get(i)!,
  })) {
    chunks.push(chunk)
  }
  valid = Buffer.concat(chunks)
})
afterAll(() => dir.cleanup())

const END = () => valid.length

async function parseError(bytes: Buffer): Promise<VhdError> {
  const chunks = (async function* () {
    for (let i = 0; i < bytes.length; i += 100_000) yield bytes.subarray(i, i + 100_000)
  })()
  try {
    for await (const _ of parseVhdStream(chunks, { name: 'export of VDI test' })) {
      // consume
    }
  } catch (error) {
    expect(error).toBeInstanceOf(VhdError)
    return error as VhdError
  }
  throw new Error('the stream parsed without error')
}

let fileCount = 0
async function fileError(bytes: Buffer): Promise<VhdError> {
  const path = join(dir.path, `corrupt-${fileCount++}.vhd`)
  await writeFile(path, bytes)
  const file = await openLocalFile(path)
  try {
    await checkVhdFile(file, { name: path })
  } catch (error) {
    expect(error).toBeInstanceOf(VhdError)
    return error as VhdError
  } finally {
    await file.close()
  }
  throw new Error('the file validated without error')
}

/** A copy with `patch` applied to both footer copies (so only the intended field is wrong). */
function withFooters(patch: (footer: Buffer) => void, fixChecksum = false): Buffer {
  const copy = Buffer.from(valid)
  for (const at of [0, copy.length - 512]) {
    const footer = copy.subarray(at, at + 512)
    patch(footer)
    if (fixChecksum) footer.writeUInt32BE(vhdChecksum(footer, 64), 64)
  }
  return copy
}

describe('corrupt and truncated VHD streams and files', () => {
  it('still accepts the valid stream and file', async () => {
    let blocks = 0
    for await (const item of parseVhdStream([valid])) if (item.type === 'block') blocks++
    expect(blocks).toBe(3)
    const path = join(dir.path, 'valid.vhd')
    await writeFile(path, valid)
    expect((await checkVhdFile(await openLocalFile(path))).allocatedBlocks).toBe(3)
  })

  it.each([
    [0, 'footer'],
    [100, 'footer'],
    [700, 'header'],
    [1800, 'BAT'],
    [2100, 'BAT'],
    [FIRST_BLOCK + 300, 'block[0]'],
    [FIRST_BLOCK + 512 + MiB, 'block[0]'],
    [FIRST_BLOCK + BLOCK_TOTAL, 'block[1]'],
    [FIRST_BLOCK + 3 * BLOCK_TOTAL, 'footer (trailing)'],
    [FIRST_BLOCK + 3 * BLOCK_TOTAL + 100, 'footer (trailing)'],
  ])('reports a stream cut at byte %i as VHD_TRUNCATED in %s', async (cut, field) => {
    const error = await parseError(valid.subarray(0, cut))
    expect(error).toMatchObject({ code: 'VHD_TRUNCATED', offset: cut, field })
    expect(error.message).toContain('export of VDI test')
    expect(error.message).toContain('the backup was not kept')
  })

  it.each([
    0,
    100,
    700,
    1800,
    2100,
    FIRST_BLOCK + 300,
    FIRST_BLOCK + 512 + MiB,
    FIRST_BLOCK + 3 * BLOCK_TOTAL,
    FIRST_BLOCK + 3 * BLOCK_TOTAL + 100,
  ])('reports a file cut at byte %i as VHD_TRUNCATED', async (cut) => {
    const error = await fileError(valid.subarray(0, cut))
    expect(error).toMatchObject({ code: 'VHD_TRUNCATED', offset: cut })
    expect(error.message).toMatch(/cut|ends/)
  })

  it('reports a bad footer checksum', async () => {
    const bytes = withFooters((f) => f.writeUInt32BE(99, 24))
    for (const error of [await parseError(bytes), await fileError(bytes)]) {
      expect(error).toMatchObject({ code: 'VHD_BAD_CHECKSUM', field: 'footer.checksum', offset: 64 })
    }
  })

  it('reports a bad header checksum', async () => {
    const bytes = Buffer.from(valid)
    bytes.writeUInt32BE(1234, 512 + 56)
    for (const error of [await parseError(bytes), await fileError(bytes)]) {
      expect(error).toMatchObject({ code: 'VHD_BAD_CHECKSUM', field: 'header.checksum', offset: 548 })
    }
  })

  it('reports bad cookies in the footer and the header', async () => {
    const footer = withFooters((f) => f.write('X', 0))
    expect(await parseError(footer)).toMatchObject({
      code: 'VHD_BAD_COOKIE',
      field: 'footer.cookie',
      offset: 0,
      expected: 'conectix',
      actual: 'Xonectix',
    })
    const header = Buffer.from(valid)
    header.write('Z', 512)
    expect(await fileError(header)).toMatchObject({ code: 'VHD_BAD_COOKIE', field: 'header.cookie', offset: 512 })
  })

  it('reports an unsupported disk type and an HTTP error inside the body', async () => {
    const fixed = withFooters((f) => f.writeUInt32BE(5, 60), true)
    expect(await parseError(fixed)).toMatchObject({
      code: 'VHD_UNSUPPORTED_DISK_TYPE',
      field: 'footer.diskType',
      offset: 60,
      actual: 5,
    })
    const http = Buffer.concat([Buffer.from('HTTP/1.1 500 Internal Error\r\n\r\n'), valid.subarray(0, 2000)])
    const error = await parseError(http)
    expect(error).toMatchObject({ code: 'VHD_BAD_COOKIE', offset: 0 })
    expect(error.message).toContain('HTTP/1.1 500 Internal Error')
  })

  it('reports a BAT entry past the end of a file (and a stream that ends before that block)', async () => {
    const bytes = Buffer.from(valid)
    bytes.writeUInt32BE((1024 * MiB) / 512, BAT + 4)
    expect(await fileError(bytes)).toMatchObject({ code: 'VHD_BAT_ENTRY_PAST_END', field: 'bat[1]', offset: BAT + 4 })
    expect(await parseError(bytes)).toMatchObject({ code: 'VHD_TRUNCATED', field: 'block[1]', offset: bytes.length })
  })

  it('reports overlapping blocks and blocks inside the metadata', async () => {
    const overlap = Buffer.from(valid)
    overlap.writeUInt32BE(overlap.readUInt32BE(BAT + 4) + 1, BAT + 12)
    for (const error of [await parseError(overlap), await fileError(overlap)]) {
      expect(error).toMatchObject({ code: 'VHD_BLOCKS_OVERLAP', field: 'bat[3]', offset: BAT + 12 })
      expect(error.message).toContain('blocks 1 and 3 overlap')
    }
    const inMetadata = Buffer.from(valid)
    inMetadata.writeUInt32BE(4, BAT)
    for (const error of [await parseError(inMetadata), await fileError(inMetadata)]) {
      expect(error).toMatchObject({ code: 'VHD_BAT_ENTRY_IN_METADATA', field: 'bat[0]', offset: BAT })
    }
  })

  it('explains a trailing footer that differs from the leading one (XO: "Expected values to be strictly equal")', async () => {
    const bytes = Buffer.from(valid)
    const trailing = bytes.subarray(bytes.length - 512)
    trailing.write('0123456789abcdef', 68, 'latin1')
    trailing.writeUInt32BE(vhdChecksum(trailing, 64), 64)
    const streamError = await parseError(bytes)
    expect(streamError).toMatchObject({
      code: 'VHD_FOOTER_MISMATCH',
      field: 'footer.uniqueId',
      offset: END() - 512 + 68,
    })
    expect(streamError.message).toContain('Expected values to be strictly equal')
    expect(streamError.message).toContain('partial export')
    expect(streamError.message).toContain('the backup was not kept')
    const stored = await fileError(bytes)
    expect(stored).toMatchObject({ code: 'VHD_FOOTER_MISMATCH', field: 'footer.uniqueId', offset: END() - 512 + 68 })
    expect(stored.message).toContain('This stored VHD is damaged')
  })

  it('reports a chain whose child does not point at the given parent', async () => {
    const parentPath = join(dir.path, 'chain-parent.vhd')
    await writeFile(parentPath, valid)
    const childChunks: Buffer[] = []
    const wrongParent = randomUUID()
    for await (const chunk of vhdStreamChunks({
      virtualSize: 8 * MiB,
      diskType: 'differencing',
      uuid: randomUUID(),
      parent: { uuid: wrongParent, timestamp: 0, name: 'x.vhd' },
      blocks: [],
      readBlock: async () => Buffer.alloc(0),
    })) {
      childChunks.push(chunk)
    }
    const childPath = join(dir.path, 'chain-child.vhd')
    await writeFile(childPath, Buffer.concat(childChunks))
    const parent = await VhdFile.open(await openLocalFile(parentPath), { name: parentPath })
    const child = await VhdFile.open(await openLocalFile(childPath), { name: childPath })
    expect(() => VhdChain.from([child, parent])).toThrow(
      expect.objectContaining({
        code: 'VHD_PARENT_MISMATCH',
        field: 'header.parentUniqueId',
        expected: parent.uuid,
        actual: wrongParent,
      }),
    )
    expect(() => VhdChain.from([child])).toThrow(expect.objectContaining({ code: 'VHD_BAD_CHAIN' }))
    await parent.close()
    await child.close()
  })
})
