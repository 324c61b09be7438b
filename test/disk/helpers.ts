import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import v8 from 'node:v8'
import vm from 'node:vm'
import type { RandomAccessFile } from '../../provider/disk/io'
import { openLocalFile } from '../../provider/disk/io'
import { encodeBat } from '../../provider/disk/vhd/bat'
import { bitmapBytes, isSectorSet } from '../../provider/disk/vhd/bitmap'
import { BLOCK_UNUSED, DiskType, SECTOR_SIZE } from '../../provider/disk/vhd/constants'
import { encodeFooter, newFooter } from '../../provider/disk/vhd/footer'
import { encodeHeader, newHeader } from '../../provider/disk/vhd/header'

export const MiB = 1024 * 1024
export const BLOCK = 2 * MiB

const run = promisify(execFile)

/** Runs a command; resolves with stdout, rejects with stderr in the message. */
export async function sh(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { maxBuffer: 64 * MiB })
    return stdout
  } catch (error) {
    const e = error as { stderr?: string; code?: number; message: string }
    throw new Error(`${command} ${args.join(' ')} failed (${e.code}): ${e.stderr ?? e.message}`)
  }
}

/** Runs a command; resolves with its binary stdout. */
export async function shBytes(command: string, args: string[]): Promise<Buffer> {
  const { stdout } = await run(command, args, { maxBuffer: 64 * MiB, encoding: 'buffer' })
  return stdout
}

/** Exit code and output of a command, without throwing. */
export async function shStatus(
  command: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { maxBuffer: 64 * MiB })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; code?: number }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'xcp-backup-disk-'))
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) }
}

export async function writeStreamToFile(stream: Readable | AsyncIterable<Uint8Array>, path: string): Promise<void> {
  await pipeline(stream, createWriteStream(path))
}

/**
 * qemu's view of a VHD. qemu sizes VHDs from unknown creators (XAPI writes `caml`) by their CHS geometry,
 * which rounds down; `force_size_calc=current_size` makes it use the footer's current size like XAPI and XO.
 */
export const qemuVhd = (path: string) => `driver=vpc,force_size_calc=current_size,file.filename=${path}`

/** qemu-img info of a vpc file: the virtual size qemu sees. Throws if qemu cannot open the image. */
export async function qemuVirtualSize(path: string): Promise<number> {
  const info = JSON.parse(await sh('qemu-img', ['info', '--output=json', '--image-opts', qemuVhd(path)])) as {
    'virtual-size': number
  }
  return info['virtual-size']
}

/** Converts a VHD to a raw file with qemu-img. */
export async function qemuConvertToRaw(path: string, out: string): Promise<void> {
  await sh('qemu-img', ['convert', '--image-opts', qemuVhd(path), '-O', 'raw', out])
}

/** The raw bytes qemu-img reads from a VHD (small disks only). */
export async function qemuRaw(path: string, dir: string): Promise<Buffer> {
  const out = join(dir, `${randomUUID()}.raw`)
  await qemuConvertToRaw(path, out)
  const file = await openLocalFile(out)
  try {
    return await file.read(0, await file.size())
  } finally {
    await file.close()
    await rm(out)
  }
}

/** A disk model: block index → block content (full block size), for building expected raw images. */
export type DiskModel = Map<number, Buffer>

export function randomBlock(size = BLOCK): Buffer {
  return randomBytes(size)
}

/** The raw image of a model (small disks only). */
export function modelRaw(model: DiskModel, virtualSize: number, blockSize = BLOCK): Buffer {
  const raw = Buffer.alloc(virtualSize)
  for (const [index, data] of model)
    data.copy(raw, index * blockSize, 0, Math.min(blockSize, virtualSize - index * blockSize))
  return raw
}

export interface TestBlock {
  bitmap: Buffer
  data: Buffer
}

/**
 * Writes a VHD file with arbitrary sector bitmaps (XAPI streams only ever carry full ones), from our own
 * encoders: footer, header (table offset 2048), BAT, blocks in index order, footer.
 */
export async function writeTestVhd(
  path: string,
  spec: {
    size: number
    type: 'dynamic' | 'differencing'
    uuid?: string
    parentUuid?: string
    parentName?: string
    blocks: Map<number, TestBlock>
    blockSize?: number
    /** Random bytes between the last block and the trailing footer: unreferenced space, legal in a VHD file. */
    junkBeforeFooter?: number
  },
): Promise<string> {
  const blockSize = spec.blockSize ?? BLOCK
  const uuid = spec.uuid ?? randomUUID()
  const footer = encodeFooter(
    newFooter({
      currentSize: spec.size,
      diskType: spec.type === 'dynamic' ? DiskType.Dynamic : DiskType.Differencing,
      uniqueId: uuid,
      timestamp: 12345,
    }),
  )
  const header = encodeHeader(
    newHeader({
      currentSize: spec.size,
      blockSize,
      tableOffset: 2048,
      parentUniqueId: spec.parentUuid,
      parentUnicodeName: spec.parentName,
    }),
  )
  const entries = Math.ceil(spec.size / blockSize)
  const bat = new Uint32Array(entries).fill(BLOCK_UNUSED)
  const batBuffer = encodeBat(bat)
  let next = 2048 + batBuffer.length
  const total = bitmapBytes(blockSize) + blockSize
  const file = await openLocalFile(path, 'create')
  try {
    await file.write(0, footer)
    await file.write(512, header)
    for (const index of [...spec.blocks.keys()].sort((a, b) => a - b)) {
      const block = spec.blocks.get(index)!
      await file.write(next, block.bitmap)
      await file.write(next + block.bitmap.length, block.data)
      bat[index] = next / SECTOR_SIZE
      next += total
    }
    await file.write(2048, encodeBat(bat))
    if (spec.junkBeforeFooter) {
      await file.write(next, randomBytes(spec.junkBeforeFooter))
      next += spec.junkBeforeFooter
    }
    await file.write(next, footer)
  } finally {
    await file.close()
  }
  return uuid
}

/** A bitmap with sectors [start, end) set for each given range. */
export function bitmapOf(ranges: Array<[number, number]>, blockSize = BLOCK): Buffer {
  const bitmap = Buffer.alloc(bitmapBytes(blockSize))
  for (const [start, end] of ranges) for (let s = start; s < end; s++) bitmap[s >> 3]! |= 0x80 >> (s & 7)
  return bitmap
}

/**
 * Applies a VHD layer onto a raw image model (sector by sector, honouring the bitmap): what a chain read must give.
 * `raw` is the image below; for a dynamic root pass zeros.
 */
export function applyLayer(raw: Buffer, blocks: Map<number, TestBlock>, blockSize = BLOCK): void {
  for (const [index, block] of blocks) {
    for (let s = 0; s < blockSize / SECTOR_SIZE; s++) {
      const at = index * blockSize + s * SECTOR_SIZE
      if (at >= raw.length) break
      if (isSectorSet(block.bitmap, s)) block.data.copy(raw, at, s * SECTOR_SIZE, s * SECTOR_SIZE + SECTOR_SIZE)
    }
  }
}

/** A RandomAccessFile that counts what goes through it. */
export class CountingFile implements RandomAccessFile {
  reads = 0
  readBytes = 0
  writes = 0
  writtenBytes = 0
  /** Reads and writes of at least `dataThreshold` bytes: block data, not metadata. */
  dataReads = 0
  dataWrites = 0

  constructor(
    private readonly inner: RandomAccessFile,
    private readonly dataThreshold = 64 * 1024,
  ) {}

  async read(position: number, length: number): Promise<Buffer> {
    this.reads++
    this.readBytes += length
    if (length >= this.dataThreshold) this.dataReads++
    return this.inner.read(position, length)
  }

  async write(position: number, data: Uint8Array): Promise<void> {
    this.writes++
    this.writtenBytes += data.length
    if (data.length >= this.dataThreshold) this.dataWrites++
    return this.inner.write(position, data)
  }

  size = () => this.inner.size()
  truncate = (size: number) => this.inner.truncate(size)
  sync = () => this.inner.sync()
  close = () => this.inner.close()
}

export class SimulatedCrash extends Error {}

/** A RandomAccessFile that fails every write and truncate after the first `allowed` ones (a crash). */
export class CrashingFile implements RandomAccessFile {
  operations = 0

  constructor(
    private readonly inner: RandomAccessFile,
    private readonly allowed: number,
  ) {}

  private step(): void {
    if (this.operations >= this.allowed) throw new SimulatedCrash(`simulated crash after ${this.allowed} writes`)
    this.operations++
  }

  read = (position: number, length: number) => this.inner.read(position, length)

  async write(position: number, data: Uint8Array): Promise<void> {
    this.step()
    return this.inner.write(position, data)
  }

  async truncate(size: number): Promise<void> {
    this.step()
    return this.inner.truncate(size)
  }

  size = () => this.inner.size()
  sync = () => this.inner.sync()
  close = () => this.inner.close()
}

/**
 * A full garbage collection for memory assertions (bytes retained, not garbage waiting for collection).
 * Array buffer backing stores are released after a turn of the event loop, hence collect, yield, collect.
 */
export function exposeGc(): () => Promise<void> {
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as () => void
  return async () => {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    gc()
  }
}
