import { BLOCK_UNUSED, SECTOR_SIZE } from './constants'

/** Bytes of a BAT with `entries` entries, padded to whole sectors (padding is 0xFF, like unused entries). */
export function batBytes(entries: number): number {
  return Math.ceil((entries * 4) / SECTOR_SIZE) * SECTOR_SIZE
}

export function decodeBat(buf: Buffer, entries: number): Uint32Array {
  const bat = new Uint32Array(entries)
  for (let i = 0; i < entries; i++) bat[i] = buf.readUInt32BE(i * 4)
  return bat
}

export function encodeBat(bat: Uint32Array): Buffer {
  const buf = Buffer.alloc(batBytes(bat.length), 0xff)
  for (let i = 0; i < bat.length; i++) buf.writeUInt32BE(bat[i]!, i * 4)
  return buf
}

export const isAllocated = (entry: number | undefined): entry is number => entry !== undefined && entry !== BLOCK_UNUSED

/** Indices of allocated entries, sorted by their position in the file (ties by index). */
export function blocksInFileOrder(bat: Uint32Array): number[] {
  const blocks: number[] = []
  for (let i = 0; i < bat.length; i++) if (bat[i] !== BLOCK_UNUSED) blocks.push(i)
  return blocks.sort((a, b) => bat[a]! - bat[b]! || a - b)
}

/** Indices of allocated entries in ascending order. */
export function allocatedBlocks(bat: Uint32Array): number[] {
  const blocks: number[] = []
  for (let i = 0; i < bat.length; i++) if (bat[i] !== BLOCK_UNUSED) blocks.push(i)
  return blocks
}
