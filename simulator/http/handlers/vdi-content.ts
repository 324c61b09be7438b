import type { SrEngine } from '../../storage'
import { BLOCK_SIZE } from '../../storage/sizes'

/**
 * A VDI's merged contents read for an export, one 2 MiB block at a time: blocks SM has allocated
 * nowhere in the chain are zeros and are not read.
 */
export class VdiContent {
  #cached: { index: number; data: Buffer } | undefined
  readonly #zeros = new Map<number, Buffer>()

  constructor(
    readonly engine: SrEngine,
    readonly uuid: string,
    readonly size: number,
    /** Blocks allocated somewhere in the chain, ascending. */
    readonly allocated: readonly number[],
  ) {}

  static async open(engine: SrEngine, uuid: string): Promise<VdiContent> {
    const facts = engine.vdi(uuid)
    return new VdiContent(engine, uuid, facts.virtualSize, await engine.blocksToExport(uuid))
  }

  get blockCount(): number {
    return Math.ceil(this.size / BLOCK_SIZE)
  }

  #zero(length: number): Buffer {
    let zero = this.#zeros.get(length)
    if (zero === undefined) {
      zero = Buffer.alloc(length)
      this.#zeros.set(length, zero)
    }
    return zero
  }

  /** Block `index` (shorter for the last block of an odd-sized disk). The last one read is kept for chunk reads. */
  async block(index: number): Promise<Buffer> {
    if (this.#cached?.index === index) return this.#cached.data
    const data = await this.engine.readBlock(this.uuid, index)
    this.#cached = { index, data }
    return data
  }

  /** The raw disk image, block by block (zeros for unallocated blocks, shared, never read). */
  async *raw(): AsyncGenerator<Buffer> {
    const allocated = new Set(this.allocated)
    for (let index = 0; index < this.blockCount; index++) {
      const length = Math.min(BLOCK_SIZE, this.size - index * BLOCK_SIZE)
      yield allocated.has(index) ? await this.block(index) : this.#zero(length)
    }
  }

  /** Bytes `[offset, offset + length)` inside one block (an XVA chunk is half a block). */
  async slice(offset: number, length: number): Promise<Buffer> {
    const index = Math.floor(offset / BLOCK_SIZE)
    const inner = offset - index * BLOCK_SIZE
    if (inner + length > BLOCK_SIZE) throw new RangeError(`[${offset}, ${offset + length}) spans two blocks`)
    const allocated = this.#allocatedSet ?? new Set(this.allocated)
    this.#allocatedSet = allocated
    if (!allocated.has(index)) return this.#zero(length)
    return (await this.block(index)).subarray(inner, inner + length)
  }

  #allocatedSet: Set<number> | undefined
}
