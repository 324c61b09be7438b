import { posix } from 'node:path'
import { Readable } from 'node:stream'
import type { RandomAccessFile } from '../io'
import { isEmpty, isFull, setRuns } from './bitmap'
import { DiskType, SECTOR_SIZE } from './constants'
import { VhdError } from './errors'
import { VhdFile } from './vhd-file'

/**
 * A chain of VHDs `[leaf, ..., root]` read as one disk: for each sector the first VHD (from the leaf) whose
 * block is allocated with the sector's bitmap bit set supplies it; a dynamic root's unset sectors are zeros.
 */
export class VhdChain {
  private readonly zeroBlock: Buffer

  private constructor(readonly disks: readonly VhdFile[]) {
    this.zeroBlock = Buffer.alloc(disks[0]!.header.blockSize)
  }

  /** Checks the links (each child's parent unique id is its parent's footer uuid), block sizes and the root type. */
  static from(disks: readonly VhdFile[]): VhdChain {
    if (disks.length === 0)
      throw new VhdError({
        code: 'VHD_BAD_CHAIN',
        problem: 'a chain needs at least one VHD',
        advice: 'Pass the leaf VHD at least.',
      })
    for (let i = 0; i + 1 < disks.length; i++) assertParentOf(disks[i + 1]!, disks[i]!)
    const root = disks[disks.length - 1]!
    if (root.footer.diskType !== DiskType.Dynamic) {
      throw new VhdError({
        code: 'VHD_BAD_CHAIN',
        problem: 'the last VHD of the chain is a differencing disk, so its parent is missing from the chain',
        field: 'footer.diskType',
        offset: 60,
        expected: DiskType.Dynamic,
        actual: root.footer.diskType,
        source: root.name,
        advice: `Open the chain down to its dynamic root (the full backup); the parent of this disk has unique id ${root.header.parentUniqueId}.`,
      })
    }
    return new VhdChain(disks)
  }

  get leaf(): VhdFile {
    return this.disks[0]!
  }

  get virtualSize(): number {
    return this.leaf.virtualSize
  }

  get blockSize(): number {
    return this.leaf.header.blockSize
  }

  get blockCount(): number {
    return Math.ceil(this.virtualSize / this.blockSize)
  }

  /** Blocks allocated in any VHD of the chain (within the leaf's size), ascending. */
  allocatedBlocks(): number[] {
    const blocks = new Set<number>()
    for (const disk of this.disks)
      for (const index of disk.allocatedBlocks()) if (index < this.blockCount) blocks.add(index)
    return [...blocks].sort((a, b) => a - b)
  }

  /** The merged content of one block (block size bytes). Reads each VHD's block at most once. */
  async readBlock(index: number): Promise<Buffer> {
    const { sectorsPerBlock } = this.leaf.geometry
    let result: Buffer | undefined
    let needed: Buffer | undefined // bit set = sector not supplied yet
    for (const disk of this.disks) {
      if (!disk.hasBlock(index)) continue
      const block = (await disk.readBlock(index))!
      if (result === undefined) {
        if (isFull(block.bitmap, sectorsPerBlock)) return block.data
        result = Buffer.alloc(this.blockSize)
        needed = Buffer.alloc(block.bitmap.length, 0xff)
      }
      const take = Buffer.alloc(needed!.length)
      for (let i = 0; i < take.length; i++) {
        take[i] = block.bitmap[i]! & needed![i]!
        needed![i]! &= ~take[i]!
      }
      for (const [start, end] of setRuns(take, sectorsPerBlock)) {
        block.data.copy(result, start * SECTOR_SIZE, start * SECTOR_SIZE, end * SECTOR_SIZE)
      }
      if (isEmpty(needed!, sectorsPerBlock)) break
    }
    return result ?? this.zeroBlock
  }

  /** `length` bytes of the virtual disk from `offset` (zeros past the virtual size are not returned). */
  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.virtualSize)
    const out = Buffer.alloc(Math.max(0, end - offset))
    for (let position = offset; position < end; ) {
      const index = Math.floor(position / this.blockSize)
      const inBlock = position - index * this.blockSize
      const n = Math.min(this.blockSize - inBlock, end - position)
      const block = await this.readBlock(index)
      block.copy(out, position - offset, inBlock, inBlock + n)
      position += n
    }
    return out
  }

  /** Every byte of the virtual disk, one block at a time. */
  async *rawChunks(): AsyncGenerator<Buffer> {
    for (let index = 0; index < this.blockCount; index++) {
      const block = await this.readBlock(index)
      const length = Math.min(this.blockSize, this.virtualSize - index * this.blockSize)
      yield length === block.length ? block : block.subarray(0, length)
    }
  }

  /** The raw virtual disk as a byte stream with backpressure and bounded memory. */
  rawStream(): Readable {
    return Readable.from(this.rawChunks(), { objectMode: false, highWaterMark: 64 * 1024 })
  }

  async close(): Promise<void> {
    await Promise.all(this.disks.map((disk) => disk.close()))
  }
}

/** Throws a `VHD_PARENT_MISMATCH` (or `VHD_BAD_CHAIN`) unless `child` is a differencing disk of `parent`. */
export function assertParentOf(parent: VhdFile, child: VhdFile): void {
  if (!child.isDifferencing) {
    throw new VhdError({
      code: 'VHD_BAD_CHAIN',
      problem: 'a VHD with a parent in the chain is not a differencing disk',
      field: 'footer.diskType',
      offset: 60,
      expected: DiskType.Differencing,
      actual: child.footer.diskType,
      source: child.name,
      advice: 'Only differencing disks (incremental backups) can sit above another disk in a chain.',
    })
  }
  if (child.header.parentUniqueId !== parent.uuid) {
    throw new VhdError({
      code: 'VHD_PARENT_MISMATCH',
      problem: `this differencing disk does not belong on top of ${parent.name ?? 'the given parent'}: its parent unique id is not that file's footer uuid`,
      field: 'header.parentUniqueId',
      offset: 512 + 40,
      expected: parent.uuid,
      actual: child.header.parentUniqueId,
      source: child.name,
      advice:
        'The chain is broken (the parent was replaced, merged or restored from another backup). This incremental backup cannot be restored on that parent; run a new full backup.',
    })
  }
  if (child.header.blockSize !== parent.header.blockSize) {
    throw new VhdError({
      code: 'VHD_BAD_CHAIN',
      problem: 'a child and its parent have different block sizes',
      field: 'header.blockSize',
      offset: 512 + 32,
      expected: parent.header.blockSize,
      actual: child.header.blockSize,
      source: child.name,
      advice: 'Such a chain cannot be read or merged; run a new full backup.',
    })
  }
}

/**
 * Opens the chain of the VHD at `leafPath` by following each differencing disk's parent path (relative to
 * its directory) down to the dynamic root. Paths are `/`-separated; `openFile` opens one for reading.
 */
export async function openVhdChain(
  leafPath: string,
  openFile: (path: string) => Promise<RandomAccessFile>,
  options: { maxDepth?: number } = {},
): Promise<VhdChain> {
  const maxDepth = options.maxDepth ?? 256
  const disks: VhdFile[] = []
  try {
    let path = leafPath
    for (;;) {
      const file = await openParent(path, disks[disks.length - 1], openFile)
      let vhd: VhdFile
      try {
        vhd = await VhdFile.open(file, { name: path })
      } catch (error) {
        await file.close()
        throw error
      }
      disks.push(vhd)
      if (!vhd.isDifferencing) break
      const parent = await vhd.parentPath()
      if (parent === undefined) {
        throw new VhdError({
          code: 'VHD_BAD_CHAIN',
          problem: 'this differencing disk names no parent (empty parent name and no path locator)',
          field: 'header.parentUnicodeName',
          offset: 512 + 64,
          source: path,
          advice: 'The chain cannot be followed; the file was not chained after it was written.',
        })
      }
      if (disks.length >= maxDepth) {
        throw new VhdError({
          code: 'VHD_BAD_CHAIN',
          problem: `the chain is longer than ${maxDepth} disks (a loop?)`,
          source: leafPath,
          advice: 'Check the parent names of the chain.',
        })
      }
      path = posix.isAbsolute(parent) ? parent : posix.join(posix.dirname(path), parent)
    }
    return VhdChain.from(disks)
  } catch (error) {
    await Promise.all(disks.map((disk) => disk.close()))
    throw error
  }
}

/** Opens `path`; when it is a parent named by `child` and cannot be opened, says which child named it. */
async function openParent(
  path: string,
  child: VhdFile | undefined,
  openFile: (path: string) => Promise<RandomAccessFile>,
): Promise<RandomAccessFile> {
  try {
    return await openFile(path)
  } catch (error) {
    if (child === undefined) throw error
    throw new VhdError({
      code: 'VHD_BAD_CHAIN',
      problem: `the parent ${path} named by this differencing disk cannot be opened (${(error as Error).message})`,
      field: 'header.parentUnicodeName',
      offset: 512 + 64,
      expected: `a VHD with unique id ${child.header.parentUniqueId}`,
      source: child.name,
      advice: 'The chain is incomplete (the parent was deleted or renamed); this backup cannot be restored without it.',
    })
  }
}
