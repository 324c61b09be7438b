import type { RandomAccessFile } from '../io'
import { allocatedBlocks, batBytes, decodeBat, encodeBat, isAllocated } from './bat'
import { BLOCK_UNUSED, DiskType, FOOTER_SIZE, HEADER_OFFSET, HEADER_SIZE, PlatformCode, SECTOR_SIZE } from './constants'
import { corruptAdvice, fileSource, invalidArgument, VhdError, type VhdSource } from './errors'
import { decodeFooter, encodeFooter, type FooterInit, footerMismatch, type VhdFooter } from './footer'
import { decodeHeader, encodeHeader, type HeaderInit, type VhdHeader } from './header'
import { type BlockGeometry, blockGeometry, checkBlockLayout, endOfData } from './layout'
import { decodeLocatorPath, isPathLocator, platformName } from './locators'

export interface OpenVhdOptions {
  /** File name or path, for error messages. */
  name?: string
  /**
   * Open even when the trailing footer differs from the copy at offset 0 (for resuming an interrupted merge,
   * which updates the two copies one after the other). `trailingFooter` then holds the trailing bytes.
   */
  tolerateFooterMismatch?: boolean
}

export interface VhdBlock {
  bitmap: Buffer
  data: Buffer
  /** Bitmap and data as stored, contiguous. */
  raw: Buffer
}

export interface ParentLocator {
  slot: number
  platform: string
  platformCode: number
  /** Decoded path (`/` separators, no leading `./`), when the platform stores a path. */
  path: string | undefined
}

/**
 * A dynamic or differencing VHD file opened through a RandomAccessFile (local disk, SMB share...).
 * `open` validates the file with XO's `checkVhd` rules and more (see `docs/disk-formats.md`): footer and header
 * checks, both footers identical, BAT inside the file, blocks neither overlapping nor inside the metadata.
 * Keeps the BAT in memory (4 bytes per block); block data is read on demand.
 */
export class VhdFile {
  readonly source: VhdSource
  readonly geometry: BlockGeometry
  /** The last 512 bytes of the file (as found when opening, then as written). */
  trailingFooter: Buffer
  private dataEnd: number | undefined

  private constructor(
    readonly file: RandomAccessFile,
    public footer: VhdFooter,
    /** The footer copy at offset 0 as stored; rewrites start from it so reserved bytes survive. */
    public leadingFooter: Buffer,
    public header: VhdHeader,
    private headerBytes: Buffer,
    private bat: Uint32Array,
    private size: number,
    source: VhdSource,
    trailingFooter: Buffer,
  ) {
    this.source = source
    this.geometry = blockGeometry(header.blockSize)
    this.trailingFooter = trailingFooter
  }

  static async open(file: RandomAccessFile, options: OpenVhdOptions = {}): Promise<VhdFile> {
    const source = fileSource(options.name)
    const size = await file.size()
    const truncated = (problem: string, expected: number) =>
      new VhdError({
        code: 'VHD_TRUNCATED',
        problem,
        field: 'file size',
        offset: size,
        expected: `at least ${expected} bytes`,
        actual: `${size} bytes`,
        source: source.name,
        advice: `The file was cut short (an interrupted upload or copy). ${corruptAdvice(source)}`,
      })
    const start = await file.read(0, HEADER_OFFSET + HEADER_SIZE)
    const leading = start.subarray(0, FOOTER_SIZE)
    const footer = decodeFooter(leading, { offset: 0, source })
    const header = decodeHeader(start.subarray(HEADER_OFFSET), footer, { source })
    const batEnd = header.tableOffset + batBytes(header.maxTableEntries)
    if (batEnd + FOOTER_SIZE > size) {
      throw truncated(
        `the file ends before its block allocation table (bytes ${header.tableOffset}..${batEnd - 1}) and trailing footer`,
        batEnd + FOOTER_SIZE,
      )
    }
    const bat = decodeBat(await file.read(header.tableOffset, batEnd - header.tableOffset), header.maxTableEntries)
    const trailing = await file.read(size - FOOTER_SIZE, FOOTER_SIZE)
    if (!leading.equals(trailing)) {
      const needed = endOfData(header, bat) + FOOTER_SIZE
      if (needed > size) {
        throw truncated(
          `the file is ${size} bytes but its blocks and trailing footer need ${needed}: it was cut before the end (the last 512 bytes are not a footer)`,
          needed,
        )
      }
      if (!options.tolerateFooterMismatch) throw footerMismatch(size - FOOTER_SIZE, leading, trailing, source)
    }
    checkBlockLayout(header, bat, { source, fileSize: size })
    const headerBytes = Buffer.from(start.subarray(HEADER_OFFSET))
    return new VhdFile(
      file,
      footer,
      Buffer.from(leading),
      header,
      headerBytes,
      bat,
      size,
      source,
      Buffer.from(trailing),
    )
  }

  get name(): string | undefined {
    return this.source.name
  }

  get virtualSize(): number {
    return this.footer.currentSize
  }

  get uuid(): string {
    return this.footer.uniqueId
  }

  get isDifferencing(): boolean {
    return this.footer.diskType === DiskType.Differencing
  }

  /** File size as known to this object (kept up to date by its own writes). */
  get fileSize(): number {
    return this.size
  }

  /** Sector offset of a block's bitmap, or BLOCK_UNUSED. */
  batEntry(index: number): number {
    return this.bat[index] ?? BLOCK_UNUSED
  }

  hasBlock(index: number): boolean {
    return isAllocated(this.bat[index])
  }

  /** Allocated block indices, ascending. */
  allocatedBlocks(): number[] {
    return allocatedBlocks(this.bat)
  }

  /** First byte after the metadata and all blocks; a new block goes there. */
  endOfData(): number {
    this.dataEnd ??= endOfData(this.header, this.bat)
    return this.dataEnd
  }

  async readBitmap(index: number): Promise<Buffer | undefined> {
    if (!this.hasBlock(index)) return undefined
    return this.readExact(this.bat[index]! * SECTOR_SIZE, this.geometry.bitmapSize, `block[${index}].bitmap`)
  }

  async readBlock(index: number): Promise<VhdBlock | undefined> {
    if (!this.hasBlock(index)) return undefined
    const { bitmapSize, blockTotalBytes } = this.geometry
    const raw = await this.readExact(this.bat[index]! * SECTOR_SIZE, blockTotalBytes, `block[${index}]`)
    return { bitmap: raw.subarray(0, bitmapSize), data: raw.subarray(bitmapSize), raw }
  }

  /** The parent locator entries in use, with their decoded paths. */
  async readParentLocators(): Promise<ParentLocator[]> {
    const locators: ParentLocator[] = []
    for (const [slot, entry] of this.header.parentLocators.entries()) {
      if (entry.platformCode === PlatformCode.None) continue
      let path: string | undefined
      if (isPathLocator(entry.platformCode) && entry.platformDataLength > 0) {
        const data = await this.readExact(
          entry.platformDataOffset,
          entry.platformDataLength,
          `header.parentLocators[${slot}]`,
          'VHD_BAD_LOCATOR',
        )
        path = decodeLocatorPath(entry.platformCode, data)
      }
      locators.push({ slot, platform: platformName(entry.platformCode), platformCode: entry.platformCode, path })
    }
    return locators
  }

  /**
   * Path of the parent, relative to this file's directory unless absolute: the parent unicode name (what XO
   * writes and follows), else the first relative locator (what blktap writes), else an absolute one.
   */
  async parentPath(): Promise<string | undefined> {
    if (!this.isDifferencing) return undefined
    const name = this.header.parentUnicodeName.replace(/^\.\//, '')
    if (name !== '') return name
    const locators = await this.readParentLocators()
    const byCode = (code: number) => locators.find((l) => l.platformCode === code && l.path !== undefined)?.path
    return byCode(PlatformCode.W2ru) ?? byCode(PlatformCode.MacX) ?? byCode(PlatformCode.W2ku)
  }

  // ----- writes -----

  /**
   * Writes a whole block (bitmap + data), allocating it at the end of the data if needed, in crash-safe
   * order: the trailing footer is moved past the new block first, then the block is written and synced,
   * and only then does the BAT point at it. Overwriting an allocated block writes it in place.
   */
  async writeBlock(index: number, block: { bitmap: Uint8Array; data: Uint8Array }): Promise<void> {
    const { bitmapSize, blockSize, blockTotalBytes } = this.geometry
    if (!Number.isInteger(index) || index < 0 || index >= this.header.maxTableEntries) {
      throw invalidArgument('block index outside the BAT', 'index', index, `0..${this.header.maxTableEntries - 1}`)
    }
    if (block.bitmap.length !== bitmapSize || block.data.length !== blockSize) {
      throw invalidArgument(
        'a block is a full bitmap and full data',
        'block',
        `${block.bitmap.length} + ${block.data.length} bytes`,
        `${bitmapSize} + ${blockSize}`,
      )
    }
    if (this.hasBlock(index)) {
      const at = this.bat[index]! * SECTOR_SIZE
      await this.writeAt(at + bitmapSize, block.data)
      await this.writeAt(at, block.bitmap)
      await this.sync()
      return
    }
    const slot = this.endOfData()
    if (this.size - FOOTER_SIZE < slot + blockTotalBytes) {
      await this.writeTrailingFooter(this.leadingFooter, slot + blockTotalBytes)
      await this.sync()
    }
    await this.writeAt(slot, block.bitmap)
    await this.writeAt(slot + bitmapSize, block.data)
    await this.sync()
    await this.setBatEntries([[index, slot / SECTOR_SIZE]])
    await this.sync()
  }

  // ----- primitives used by merges, which decide their order -----

  async writeAt(offset: number, data: Uint8Array): Promise<void> {
    await this.file.write(offset, data)
    this.size = Math.max(this.size, offset + data.length)
  }

  /** Sets BAT entries in memory and on disk, writing each contiguous run of changed entries once. */
  async setBatEntries(entries: ReadonlyArray<readonly [index: number, sector: number]>): Promise<void> {
    const sorted = [...entries].sort((a, b) => a[0] - b[0])
    let i = 0
    while (i < sorted.length) {
      let j = i
      while (j + 1 < sorted.length && sorted[j + 1]![0] === sorted[j]![0] + 1) j++
      const first = sorted[i]![0]
      const buf = Buffer.alloc((j - i + 1) * 4)
      for (let k = i; k <= j; k++) {
        const [index, sector] = sorted[k]!
        if (index >= this.bat.length) throw new RangeError(`BAT index ${index} beyond ${this.bat.length} entries`)
        this.bat[index] = sector
        buf.writeUInt32BE(sector >>> 0, (k - i) * 4)
      }
      await this.writeAt(this.header.tableOffset + first * 4, buf)
      i = j + 1
    }
    this.dataEnd = undefined
  }

  /**
   * Grows the BAT to `entries` entries: writes the new unused entries first, then the header that makes
   * them part of the table. The caller must have moved whatever lay in the bytes the BAT grows into.
   */
  async growBat(entries: number): Promise<void> {
    if (entries <= this.header.maxTableEntries) return
    const grown = new Uint32Array(entries).fill(BLOCK_UNUSED)
    grown.set(this.bat)
    // from the old last sector on: its padding (maybe not 0xFF) now holds entries
    const from = Math.max(0, batBytes(this.bat.length) - SECTOR_SIZE)
    await this.writeAt(this.header.tableOffset + from, encodeBat(grown).subarray(from))
    await this.file.sync()
    this.bat = grown
    await this.writeHeader({ ...this.header, maxTableEntries: entries })
  }

  async writeHeader(header: HeaderInit): Promise<void> {
    const bytes = encodeHeader(header, this.headerBytes)
    await this.writeAt(HEADER_OFFSET, bytes)
    this.header = { ...header, checksum: bytes.readUInt32BE(36) }
    this.headerBytes = bytes
    this.dataEnd = undefined
  }

  /** The bytes of `footer`, keeping the reserved bytes of the current leading footer. */
  encodeFooter(footer: FooterInit): Buffer {
    return encodeFooter(footer, this.leadingFooter)
  }

  /** Writes footer bytes at `offset` as the trailing copy; the caller makes sure nothing follows it. */
  async writeTrailingFooter(bytes: Buffer, offset: number): Promise<void> {
    await this.writeAt(offset, bytes)
    this.trailingFooter = bytes
  }

  /** Writes footer bytes at offset 0. */
  async writeLeadingFooter(bytes: Buffer): Promise<void> {
    await this.writeAt(0, bytes)
    this.leadingFooter = bytes
    this.footer = decodeFooter(bytes, { offset: 0, source: this.source })
  }

  async truncate(size: number): Promise<void> {
    await this.file.truncate(size)
    this.size = size
  }

  sync(): Promise<void> {
    return this.file.sync()
  }

  close(): Promise<void> {
    return this.file.close()
  }

  private async readExact(
    offset: number,
    length: number,
    field: string,
    code: VhdError['code'] = 'VHD_TRUNCATED',
  ): Promise<Buffer> {
    const data = await this.file.read(offset, length)
    if (data.length < length) {
      throw new VhdError({
        code,
        problem: `the file ends before the end of ${field}`,
        field,
        offset: offset + data.length,
        expected: `${length} bytes`,
        actual: `${data.length} bytes`,
        source: this.source.name,
        advice: corruptAdvice(this.source),
      })
    }
    return data
  }
}

/**
 * Full validation of a VHD file on a remote: everything `VhdFile.open` checks (which includes every block
 * lying inside the file), plus that every block's bitmap and all locator data can be read. Throws the first `VhdError`.
 */
export async function checkVhdFile(file: RandomAccessFile, options: { name?: string } = {}): Promise<VhdFileSummary> {
  const vhd = await VhdFile.open(file, { name: options.name })
  const blocks = vhd.allocatedBlocks()
  for (const index of blocks) await vhd.readBitmap(index)
  await vhd.readParentLocators()
  return {
    footer: vhd.footer,
    header: vhd.header,
    allocatedBlocks: blocks.length,
    fileSize: vhd.fileSize,
    parentPath: await vhd.parentPath(),
  }
}

export interface VhdFileSummary {
  footer: VhdFooter
  header: VhdHeader
  allocatedBlocks: number
  fileSize: number
  parentPath: string | undefined
}
