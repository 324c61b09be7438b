import { constants, type FileHandle, mkdir, open, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { BLOCK_SIZE } from './sizes'

/**
 * Stored bytes of the VHD nodes: one sparse file per node, block `i` at offset `i * BLOCK_SIZE`, like
 * the data area of a VHD with a fixed layout. Only blocks written with real bytes touch the file, so
 * the filesystem allocates nothing for the rest (`du` counts written blocks only).
 *
 * Why one sparse file per node rather than one file per block: a node is created, grows and is
 * deleted as a unit (snapshot, coalesce, destroy), which is one `unlink`; a read or write is one
 * `pread`/`pwrite` on a cached descriptor; and a coalesce overwrites parent blocks in place, which is
 * crash-safe for the same reason `vhd-util coalesce` is: the parent's only child shadows every block
 * being rewritten until the metadata commit drops the child.
 */
export class BlockFiles {
  private readonly open = new Map<string, Promise<FileHandle>>()
  private static readonly maxOpen = 64

  constructor(readonly directory: string) {}

  async init(): Promise<void> {
    await mkdir(this.directory, { recursive: true })
  }

  private path(vhd: string): string {
    return join(this.directory, `${vhd}.blocks`)
  }

  private handle(vhd: string): Promise<FileHandle> {
    let handle = this.open.get(vhd)
    if (handle !== undefined) {
      // Most recently used last: Map iteration order is the eviction order.
      this.open.delete(vhd)
      this.open.set(vhd, handle)
      return handle
    }
    handle = open(this.path(vhd), constants.O_RDWR | constants.O_CREAT, 0o644)
    handle.catch(() => this.open.delete(vhd))
    this.open.set(vhd, handle)
    if (this.open.size > BlockFiles.maxOpen) {
      const [oldest] = this.open.keys()
      if (oldest !== undefined) void this.closeOne(oldest)
    }
    return handle
  }

  private async closeOne(vhd: string): Promise<void> {
    const handle = this.open.get(vhd)
    if (handle === undefined) return
    this.open.delete(vhd)
    await (await handle).close().catch(() => undefined)
  }

  /** Reads one whole block (2 MiB); bytes the file never received read as zeros. */
  async readBlock(vhd: string, index: number): Promise<Buffer> {
    const buffer = Buffer.alloc(BLOCK_SIZE)
    const handle = await this.handle(vhd)
    let filled = 0
    while (filled < BLOCK_SIZE) {
      const { bytesRead } = await handle.read(buffer, filled, BLOCK_SIZE - filled, index * BLOCK_SIZE + filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return buffer
  }

  /** Writes `data` at `offset` inside block `index`. */
  async write(vhd: string, index: number, offset: number, data: Uint8Array): Promise<void> {
    if (offset < 0 || offset + data.length > BLOCK_SIZE) {
      throw new RangeError(`write of ${data.length} bytes at ${offset} does not fit in a block`)
    }
    const handle = await this.handle(vhd)
    let written = 0
    while (written < data.length) {
      const { bytesWritten } = await handle.write(
        data,
        written,
        data.length - written,
        index * BLOCK_SIZE + offset + written,
      )
      written += bytesWritten
    }
  }

  /** Makes written blocks durable before metadata that references them is committed. */
  async sync(vhd: string): Promise<void> {
    await (await this.handle(vhd)).sync()
  }

  async remove(vhd: string): Promise<void> {
    await this.closeOne(vhd)
    await unlink(this.path(vhd)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
  }

  /** Nodes that have a data file, to sweep files a crash left unreferenced. */
  async list(): Promise<string[]> {
    const names = await readdir(this.directory)
    return names.filter((name) => name.endsWith('.blocks')).map((name) => name.slice(0, -'.blocks'.length))
  }

  async close(): Promise<void> {
    await Promise.all([...this.open.keys()].map((vhd) => this.closeOne(vhd)))
  }
}
