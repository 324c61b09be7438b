import { constants, type FileHandle, open } from 'node:fs/promises'

/**
 * Random access to one file, wherever it lives (a local disk, a mounted NFS export, an SMB share).
 * VHD reading, validation and merging use only this, so they work the same on every remote.
 */
export interface RandomAccessFile {
  /** Reads `length` bytes at `position`; returns fewer only when the file ends first. */
  read(position: number, length: number): Promise<Buffer>
  /** Writes all of `data` at `position`, growing the file if needed. */
  write(position: number, data: Uint8Array): Promise<void>
  size(): Promise<number>
  truncate(size: number): Promise<void>
  /** Makes written data durable before a caller depends on it (merge checkpoints, renames). */
  sync(): Promise<void>
  close(): Promise<void>
}

export type OpenMode = 'read' | 'update' | 'create'

const flagsByMode: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  update: constants.O_RDWR,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
}

/** A local file as a RandomAccessFile. */
export async function openLocalFile(path: string, mode: OpenMode = 'read'): Promise<RandomAccessFile> {
  const handle = await open(path, flagsByMode[mode], 0o644)
  return new LocalFile(handle)
}

class LocalFile implements RandomAccessFile {
  constructor(private readonly handle: FileHandle) {}

  async read(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, position + filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return filled === length ? buffer : buffer.subarray(0, filled)
  }

  async write(position: number, data: Uint8Array): Promise<void> {
    let written = 0
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written, position + written)
      written += bytesWritten
    }
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size
  }

  truncate(size: number): Promise<void> {
    return this.handle.truncate(size)
  }

  sync(): Promise<void> {
    return this.handle.sync()
  }

  close(): Promise<void> {
    return this.handle.close()
  }
}
