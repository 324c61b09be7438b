import { mkdir, open, readdir, readFile, truncate, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { syncDirectory } from './atomic-file'
import { CBT_BLOCK_SIZE, cbtBitmapBytes } from './sizes'

/**
 * Changed-block bitmaps of CBT logs, one sparse file per log under `cbt/`: bit `n` (MSB first in its
 * byte, the order `list_changed_blocks` answers in) says the 64 KiB at `n * 64 KiB` was written.
 * The log's links and consistency flag live in the SR metadata; only the bitmap is here, so marking
 * writes never rewrites metadata.
 */
export class CbtFiles {
  constructor(readonly directory: string) {}

  async init(): Promise<void> {
    await mkdir(this.directory, { recursive: true })
  }

  private path(log: string): string {
    return join(this.directory, `${log}.bitmap`)
  }

  /** An all-zero bitmap for a disk of `size` bytes (sparse: costs nothing until bits are set). */
  async create(log: string, size: number): Promise<void> {
    const handle = await open(this.path(log), 'w', 0o644)
    try {
      await handle.truncate(cbtBitmapBytes(size))
      await handle.sync()
    } finally {
      await handle.close()
    }
    await syncDirectory(this.directory)
  }

  /** Grows the bitmap for a resized disk; new bits are clear. */
  async resize(log: string, size: number): Promise<void> {
    await truncate(this.path(log), cbtBitmapBytes(size))
  }

  /** Copies a bitmap to a new log file (used where SM renames a log but our commit must stay atomic). */
  async copy(from: string, to: string): Promise<void> {
    const bitmap = await readFile(this.path(from))
    const handle = await open(this.path(to), 'w', 0o644)
    try {
      await handle.writeFile(bitmap)
      await handle.sync()
    } finally {
      await handle.close()
    }
  }

  /** Sets the bits of every 64 KiB region `[offset, offset + length)` touches. */
  async mark(log: string, offset: number, length: number): Promise<void> {
    if (length <= 0) return
    const first = Math.floor(offset / CBT_BLOCK_SIZE)
    const last = Math.floor((offset + length - 1) / CBT_BLOCK_SIZE)
    const handle = await open(this.path(log), 'r+')
    try {
      const firstByte = first >> 3
      const bytes = Buffer.alloc((last >> 3) - firstByte + 1)
      await handle.read(bytes, 0, bytes.length, firstByte)
      for (let bit = first; bit <= last; bit++) bytes[(bit >> 3) - firstByte]! |= 0x80 >> (bit & 7)
      await handle.write(bytes, 0, bytes.length, firstByte)
    } finally {
      await handle.close()
    }
  }

  /** The bitmap as stored; shorter than expected if the log was damaged. */
  read(log: string): Promise<Buffer> {
    return readFile(this.path(log))
  }

  /** ORs `bits` into the log's bitmap (`cbt-util coalesce` when a snapshot is deleted). */
  async orInto(log: string, bits: Uint8Array): Promise<void> {
    const current = await readFile(this.path(log))
    const length = Math.min(current.length, bits.length)
    for (let i = 0; i < length; i++) current[i]! |= bits[i]!
    const handle = await open(this.path(log), 'r+')
    try {
      await handle.write(current, 0, current.length, 0)
      await handle.sync()
    } finally {
      await handle.close()
    }
  }

  /** Test hook: cut the bitmap short, as a damaged log would be. */
  async truncateTo(log: string, bytes: number): Promise<void> {
    await truncate(this.path(log), bytes)
  }

  async remove(log: string): Promise<void> {
    await unlink(this.path(log)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.directory)
    return names.filter((name) => name.endsWith('.bitmap')).map((name) => name.slice(0, -'.bitmap'.length))
  }
}
