import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gzipSync, zstdCompressSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openLocalFile } from '../../provider/disk/io'
import { XvaError } from '../../provider/disk/xva/errors'
import { checkXvaFile } from '../../provider/disk/xva/is-valid-xva'
import { TAR_END, tarEntry } from '../../provider/disk/xva/tar'
import { readXva, type XvaItem } from '../../provider/disk/xva/xva-reader'
import { createXvaStream, type XvaDiskSource, type XvaWriteOptions } from '../../provider/disk/xva/xva-writer'
import { sha1Hex, xxh64Hex } from '../../provider/disk/xva/xxhash'
import { exposeGc, MiB, sh, shBytes, shStatus, tempDir, writeStreamToFile } from './helpers'

let dir: { path: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(() => dir.cleanup())

const OVA_XML = Buffer.from(
  '<?xml version="1.0"?><value><struct><member><name>version</name><value>test</value></member></struct></value>',
)

/** A disk held in memory, with a log of the chunks read. */
function memoryDisk(ref: string, content: Buffer, allocated?: number[]): XvaDiskSource & { reads: number[] } {
  const reads: number[] = []
  return {
    ref,
    size: content.length,
    reads,
    readChunk: async (index) => {
      reads.push(index)
      return content.subarray(index * MiB, Math.min(content.length, (index + 1) * MiB))
    },
    allocatedChunks: allocated,
  }
}

/** Disk 1: 5 MiB + 512, data in chunks 2 and (partly) 3; disk 2: 2 MiB of data. */
function sampleDisks() {
  const one = Buffer.alloc(5 * MiB + 512)
  randomBytes(MiB).copy(one, 2 * MiB)
  randomBytes(1000).copy(one, 3 * MiB + 5)
  const two = randomBytes(2 * MiB)
  return { one, two }
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function collect(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<XvaItem[]> {
  const items: XvaItem[] = []
  for await (const item of readXva(source, { name: 'export of VM test' })) items.push(item)
  return items
}

async function readError(source: Iterable<Uint8Array>): Promise<XvaError> {
  const error = await collect(source).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(XvaError)
  return error as XvaError
}

/** Rebuilds each disk from the chunks read (missing chunks are zeros). */
function rebuild(items: XvaItem[], sizes: Record<string, number>): Record<string, Buffer> {
  const disks: Record<string, Buffer> = {}
  for (const [ref, size] of Object.entries(sizes)) disks[ref] = Buffer.alloc(size)
  for (const item of items) if (item.type === 'chunk') item.data.copy(disks[item.ref]!, item.index * MiB)
  return disks
}

function tarOf(entries: Array<[string, Buffer]>, end = true): Buffer {
  const parts: Buffer[] = []
  for (const [name, data] of entries) parts.push(...tarEntry(name, data))
  if (end) parts.push(TAR_END)
  return Buffer.concat(parts)
}

describe('XVA writer, judged by GNU tar, gzip and zstd', () => {
  it('writes ova.xml, then chunks with their upper-case XXH64, skipping zero chunks but the first and last', async () => {
    const { one, two } = sampleDisks()
    const path = join(dir.path, 'plain.xva')
    await writeStreamToFile(
      createXvaStream({ ovaXml: OVA_XML, disks: [memoryDisk('Ref:1', one), memoryDisk('Ref:12', two)] }),
      path,
    )
    const listing = (await sh('tar', ['-tvf', path])).trim().split('\n')
    const names = listing.map((line) => line.split(/\s+/).pop())
    expect(names).toEqual([
      'ova.xml',
      'Ref:1/00000000',
      'Ref:1/00000000.xxhash',
      'Ref:1/00000002',
      'Ref:1/00000002.xxhash',
      'Ref:1/00000003',
      'Ref:1/00000003.xxhash',
      'Ref:1/00000005',
      'Ref:1/00000005.xxhash',
      'Ref:12/00000000',
      'Ref:12/00000000.xxhash',
      'Ref:12/00000001',
      'Ref:12/00000001.xxhash',
    ])
    // sizes as tar reports them: full chunks, and a 512-byte last chunk
    expect(listing[1]).toMatch(/ 1048576 /)
    expect(listing[7]).toMatch(/ 512 /)
    const chunk = await shBytes('tar', ['-xOf', path, 'Ref:1/00000002'])
    expect(chunk.equals(one.subarray(2 * MiB, 3 * MiB))).toBe(true)
    expect(chunk.length).toBe(MiB)
    const hash = (await sh('tar', ['-xOf', path, 'Ref:1/00000002.xxhash'])).trim()
    expect(hash).toMatch(/^[0-9A-F]{16}$/)
    expect(hash).toBe(await xxh64Hex(one.subarray(2 * MiB, 3 * MiB)))
    expect(await xxh64Hex(Buffer.alloc(0))).toBe('EF46DB3751D8E999')
  })

  it('skips unallocated chunks without reading them when the allocation is known', async () => {
    const { one } = sampleDisks()
    const disk = memoryDisk('Ref:1', one, [2, 3])
    await bytesOf(createXvaStream({ ovaXml: OVA_XML, disks: [disk] }))
    expect(disk.reads).toEqual([0, 2, 3, 5])
  })

  it.each(['gzip', 'zstd'] as const)(
    'compresses the whole tar with %s, which its own tool accepts',
    async (compression) => {
      const { one, two } = sampleDisks()
      const path = join(dir.path, `whole.${compression}.xva`)
      await writeStreamToFile(
        createXvaStream({ ovaXml: OVA_XML, disks: [memoryDisk('Ref:1', one), memoryDisk('Ref:2', two)], compression }),
        path,
      )
      await sh(compression, ['-t', '-q', path])
      const listing = await sh('tar', [
        compression === 'gzip' ? '-tzf' : '--zstd',
        ...(compression === 'zstd' ? ['-tf'] : []),
        path,
      ])
      expect(listing.trim().split('\n')).toHaveLength(1 + 2 * 4 + 2 * 2)
      const items = await collect(Readable.from([await (await openLocalFile(path)).read(0, 100 * MiB)]))
      expect(items.at(-1)).toMatchObject({ type: 'end', compression })
      const disks = rebuild(items, { 'Ref:1': one.length, 'Ref:2': two.length })
      expect(disks['Ref:1']!.equals(one)).toBe(true)
      expect(disks['Ref:2']!.equals(two)).toBe(true)
    },
  )
})

describe('XVA reader', () => {
  it('round-trips a plain XVA and reports every chunk after verifying it', async () => {
    const { one, two } = sampleDisks()
    const bytes = await bytesOf(
      createXvaStream({ ovaXml: OVA_XML, disks: [memoryDisk('Ref:1', one), memoryDisk('Ref:2', two)] }),
    )
    const items = await collect([bytes])
    expect(items[0]).toEqual({ type: 'ova.xml', data: OVA_XML })
    expect(items.filter((i) => i.type === 'chunk').map((i) => i.type === 'chunk' && `${i.ref}/${i.index}`)).toEqual([
      'Ref:1/0',
      'Ref:1/2',
      'Ref:1/3',
      'Ref:1/5',
      'Ref:2/0',
      'Ref:2/1',
    ])
    expect(items.at(-1)).toEqual({ type: 'end', tarLength: bytes.length, compression: 'none' })
  })

  it('accepts lower-case hashes, legacy SHA-1 checksums, keep-alive chunks with repeated names', async () => {
    const a = randomBytes(MiB)
    const b = randomBytes(300)
    const tar = tarOf([
      ['ova.xml', OVA_XML],
      ['Ref:4/00000000', a],
      ['Ref:4/00000000.xxhash', Buffer.from((await xxh64Hex(a)).toLowerCase())],
      ['Ref:4/00000001', Buffer.alloc(0)],
      ['Ref:4/00000001.xxhash', Buffer.from(await xxh64Hex(Buffer.alloc(0)))],
      ['Ref:4/00000001', b],
      ['Ref:4/00000001.checksum', Buffer.from(sha1Hex(b))],
    ])
    const chunks = (await collect([tar])).filter((i) => i.type === 'chunk')
    expect(chunks.map((c) => c.type === 'chunk' && [c.index, c.data.length])).toEqual([
      [0, MiB],
      [1, 300],
    ])
  })

  it('reads an XVA packed by GNU tar (GNU format headers, a directory entry)', async () => {
    const root = join(dir.path, 'gnu')
    await mkdir(join(root, 'Ref:9'), { recursive: true })
    const data = randomBytes(MiB)
    await writeFile(join(root, 'ova.xml'), OVA_XML)
    await writeFile(join(root, 'Ref:9', '00000000'), data)
    await writeFile(join(root, 'Ref:9', '00000000.xxhash'), await xxh64Hex(data))
    const path = join(dir.path, 'gnu.xva')
    // with its directory entry, as `tar -cf x.xva ova.xml Ref:9` makes it
    await sh('tar', ['-cf', path, '-C', root, '--format=gnu', '--sort=name', 'ova.xml', 'Ref:9'])
    expect((await sh('tar', ['-tf', path])).trim().split('\n')).toEqual([
      'ova.xml',
      'Ref:9/',
      'Ref:9/00000000',
      'Ref:9/00000000.xxhash',
    ])
    const file = await openLocalFile(path)
    const items = await collect([await file.read(0, await file.size())])
    await file.close()
    expect(items.map((i) => i.type)).toEqual(['ova.xml', 'chunk', 'end'])
    expect(items[1]).toMatchObject({ ref: 'Ref:9', index: 0 })
    expect((await checkXvaFile(await openLocalFile(path))).valid).toBe(true)
  })
})

describe('corrupt and truncated XVAs', () => {
  let plain: Buffer
  let chunkOffset: number
  beforeAll(async () => {
    const { one } = sampleDisks()
    plain = await bytesOf(createXvaStream({ ovaXml: OVA_XML, disks: [memoryDisk('Ref:1', one)] }))
    // entries: ova.xml (512 + 512), then Ref:1/00000000 header at 1024
    chunkOffset = 1024
  })

  it('reports a bad tar header checksum with the entry and offset', async () => {
    const bytes = Buffer.from(plain)
    bytes[chunkOffset + 10]! ^= 0x01
    const error = await readError([bytes])
    expect(error).toMatchObject({ code: 'XVA_BAD_TAR_CHECKSUM', offset: chunkOffset + 148 })
    expect(error.field).toContain('Ref:1/00000000'.slice(0, 10))
    expect(error.message).toContain('the backup was not kept')
  })

  it('reports a chunk whose data does not match its hash', async () => {
    const bytes = Buffer.from(plain)
    bytes[chunkOffset + 512 + 1000]! ^= 0xff
    const hashOffset = chunkOffset + 512 + MiB
    const error = await readError([bytes])
    expect(error).toMatchObject({ code: 'XVA_HASH_MISMATCH', field: 'Ref:1/00000000.xxhash', offset: hashOffset })
  })

  it('reports a chunk without its hash entry, unknown entries, out-of-order chunks and a missing ova.xml', async () => {
    const a = Buffer.alloc(MiB, 1)
    const hash = Buffer.from(await xxh64Hex(a))
    expect(
      await readError([
        tarOf([
          ['ova.xml', OVA_XML],
          ['Ref:1/00000000', a],
          ['Ref:1/00000001', a],
        ]),
      ]),
    ).toMatchObject({
      code: 'XVA_MISSING_HASH',
      field: 'Ref:1/00000000',
      offset: 1024,
    })
    expect(
      await readError([
        tarOf([
          ['ova.xml', OVA_XML],
          ['Ref:1/00000000', a],
        ]),
      ]),
    ).toMatchObject({ code: 'XVA_MISSING_HASH' })
    expect(
      await readError([
        tarOf([
          ['ova.xml', OVA_XML],
          ['notes.txt', a],
        ]),
      ]),
    ).toMatchObject({ code: 'XVA_UNKNOWN_ENTRY', field: 'notes.txt', offset: 1024 })
    expect(
      await readError([
        tarOf([
          ['ova.xml', OVA_XML],
          ['Ref:1/00000003', a],
          ['Ref:1/00000003.xxhash', hash],
          ['Ref:1/00000002', a],
          ['Ref:1/00000002.xxhash', hash],
        ]),
      ]),
    ).toMatchObject({ code: 'XVA_CHUNK_OUT_OF_ORDER', field: 'Ref:1/00000002' })
    expect(await readError([tarOf([['Ref:1/00000000', a]])])).toMatchObject({ code: 'XVA_MISSING_OVA_XML', offset: 0 })
  })

  // -1: right before the end marker
  it.each([0, 300, 1024 + 100, 1024 + 512 + 4096, -1])('reports a plain XVA cut at byte %i', async (cutAt) => {
    const cut = cutAt === -1 ? plain.length - 1024 : cutAt
    const error = await readError([plain.subarray(0, cut)])
    expect(error.code).toBe('XVA_TRUNCATED')
    expect(error.offset).toBe(cut)
    expect(error.message).toContain(`the export was cut at byte ${cut}`)
  })

  it.each([
    ['gzip', gzipSync],
    ['zstd', zstdCompressSync],
  ] as const)('reports a %s XVA cut short', async (_name, compressSync) => {
    const compressed = compressSync(plain)
    for (const cut of [Math.floor(compressed.length / 3), compressed.length - 20]) {
      const error = await readError([compressed.subarray(0, cut)])
      expect(error.code).toBe('XVA_TRUNCATED')
      expect(error.message).toContain('cut at byte')
    }
  })

  it('reads a zstd stream arriving in small pieces and rejects corrupt compressed data', async () => {
    const compressed = zstdCompressSync(plain)
    const pieces = Array.from({ length: Math.ceil(compressed.length / 1000) }, (_, i) =>
      compressed.subarray(i * 1000, (i + 1) * 1000),
    )
    expect((await collect(pieces)).at(-1)).toMatchObject({ type: 'end', compression: 'zstd' })
    const badMethod = Buffer.from(gzipSync(plain))
    badMethod[2] = 7 // gzip only knows method 8 (deflate)
    const error = await readError([badMethod])
    expect(error.code).toBe('XVA_BAD_COMPRESSION')
    expect(error.message).toContain('gzip data is corrupt')
    // garbage inside the deflate data decodes to garbage, which the tar checksums or hashes catch
    const garbled = Buffer.from(gzipSync(plain))
    garbled.fill(0x55, 100, 200)
    expect(await readError([garbled])).toBeInstanceOf(XvaError)
  })
})

describe('checkXvaFile', () => {
  async function check(name: string, bytes: Buffer, deep = false) {
    const path = join(dir.path, name)
    await writeFile(path, bytes)
    const file = await openLocalFile(path)
    try {
      return await checkXvaFile(file, { name: path, deep })
    } finally {
      await file.close()
    }
  }

  it('accepts a complete plain XVA after walking its entries', async () => {
    const { one } = sampleDisks()
    const bytes = await bytesOf(createXvaStream({ ovaXml: OVA_XML, disks: [memoryDisk('Ref:1', one)] }))
    expect(await check('ok.xva', bytes)).toEqual({ valid: true, compression: 'none', entries: 9 })
    expect(await check('ok-deep.xva', bytes, true)).toMatchObject({ valid: true, entries: 5 })
  })

  it('catches a cut XVA that passes XO check (its last 1024 bytes are zeros from a zero chunk)', async () => {
    const zeros = Buffer.alloc(3 * MiB)
    const bytes = await bytesOf(createXvaStream({ ovaXml: OVA_XML, disks: [memoryDisk('Ref:1', zeros)] }))
    // cut inside the data of the first (all-zero) chunk
    const cut = bytes.subarray(0, 1024 + 512 + 4096)
    expect(cut.length % 512).toBe(0)
    expect(cut.subarray(cut.length - 1024).every((b) => b === 0)).toBe(true)
    const result = await check('cut.xva', cut)
    expect(result).toMatchObject({ valid: false, code: 'XVA_TRUNCATED', offset: cut.length })
    expect(result.reason).toContain('Ref:1/00000000')
  })

  it('reports what is wrong with other files and checks compressed ones deeply on request', async () => {
    expect(await check('tiny.xva', Buffer.alloc(10))).toMatchObject({ valid: false, code: 'XVA_TRUNCATED' })
    const { one } = sampleDisks()
    const plainBytes = await bytesOf(createXvaStream({ ovaXml: OVA_XML, disks: [memoryDisk('Ref:1', one)] }))
    expect(await check('odd.xva', plainBytes.subarray(0, plainBytes.length - 100))).toMatchObject({
      valid: false,
      code: 'XVA_TRUNCATED',
    })
    expect(await check('noend.xva', plainBytes.subarray(0, plainBytes.length - 1024))).toMatchObject({
      valid: false,
      code: 'XVA_TRUNCATED',
    })
    const gz = gzipSync(plainBytes)
    expect(await check('ok.gz.xva', gz)).toMatchObject({ valid: true, compression: 'gzip' })
    const cutGz = gz.subarray(0, gz.length - 50)
    expect(await check('cut-cheap.gz.xva', cutGz)).toMatchObject({ valid: true, compression: 'gzip' })
    expect(await check('cut-deep.gz.xva', cutGz, true)).toMatchObject({
      valid: false,
      compression: 'gzip',
      code: 'XVA_TRUNCATED',
    })
    expect((await shStatus('gzip', ['-t', join(dir.path, 'cut-deep.gz.xva')])).code).not.toBe(0)
  })
})

describe('XVA memory', () => {
  it('writes (zstd) and reads 1 GiB of chunks with flat retained memory', async () => {
    const gc = exposeGc()
    const size = 1024 * MiB
    const disk: XvaDiskSource = { ref: 'Ref:1', size, readChunk: async (index) => Buffer.alloc(MiB, (index % 251) + 1) }
    const options: XvaWriteOptions = { ovaXml: OVA_XML, disks: [disk], compression: 'zstd' }
    await gc()
    const baseline = process.memoryUsage().arrayBuffers
    let peak = 0
    let chunks = 0
    for await (const item of readXva(createXvaStream(options))) {
      if (item.type !== 'chunk') continue
      expect(item.data[0]).toBe((item.index % 251) + 1)
      if (++chunks % 128 === 0) {
        await gc()
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline)
      }
    }
    expect(chunks).toBe(1024)
    expect(peak).toBeLessThan(32 * MiB)
  })
})
