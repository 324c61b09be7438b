import { SECTOR_SIZE } from './constants'

/**
 * Sector bitmaps: one bit per sector of a block, most significant bit first
 * (sector s is `byte[s >> 3] & (0x80 >> (s & 7))`), padded to whole sectors.
 */
export function bitmapBytes(blockSize: number): number {
  return Math.ceil(blockSize / SECTOR_SIZE / 8 / SECTOR_SIZE) * SECTOR_SIZE
}

export const isSectorSet = (bitmap: Uint8Array, sector: number): boolean =>
  (bitmap[sector >> 3]! & (0x80 >> (sector & 7))) !== 0

export function setSector(bitmap: Uint8Array, sector: number): void {
  bitmap[sector >> 3]! |= 0x80 >> (sector & 7)
}

export function setSectorRange(bitmap: Uint8Array, start: number, end: number): void {
  for (let s = start; s < end; s++) setSector(bitmap, s)
}

/** True when all of the first `sectors` bits are set. */
export function isFull(bitmap: Uint8Array, sectors: number): boolean {
  const whole = sectors >> 3
  for (let i = 0; i < whole; i++) if (bitmap[i] !== 0xff) return false
  for (let s = whole << 3; s < sectors; s++) if (!isSectorSet(bitmap, s)) return false
  return true
}

export function isEmpty(bitmap: Uint8Array, sectors: number): boolean {
  const whole = sectors >> 3
  for (let i = 0; i < whole; i++) if (bitmap[i] !== 0) return false
  for (let s = whole << 3; s < sectors; s++) if (isSectorSet(bitmap, s)) return false
  return true
}

/** Runs of consecutive set sectors among the first `sectors`, as [start, end) pairs. */
export function* setRuns(bitmap: Uint8Array, sectors: number): Generator<[number, number]> {
  let s = 0
  while (s < sectors) {
    // whole bytes at a time where the byte is uniform
    while (s < sectors && !isSectorSet(bitmap, s)) s += (s & 7) === 0 && bitmap[s >> 3] === 0 ? 8 : 1
    if (s >= sectors) return
    const start = s
    while (s < sectors && isSectorSet(bitmap, s)) s += (s & 7) === 0 && bitmap[s >> 3] === 0xff ? 8 : 1
    yield [start, Math.min(s, sectors)]
  }
}

/** A bitmap with the first `sectors` bits set, in the padded size for `blockSize`. */
export function fullBitmap(blockSize: number): Buffer {
  return Buffer.alloc(bitmapBytes(blockSize), 0xff)
}
