import { smFailure } from './errors'
import type { CbtRecord } from './schema'
import { CBT_BLOCK_SIZE } from './sizes'

/**
 * `VDI.list_changed_blocks` as SM computes it (`VDI.py list_changed_blocks`, storage-semantics.md §5.4):
 * start at `from`'s log, follow `child` links, OR together the bitmaps of every log after `from` up to
 * and including `to`. Bitmaps are MSB first, which is also the answer's bit order.
 */
export interface CbtChainAccess {
  /** The CBT log of a VDI of the SR, or null when it has none (never had one, disabled, destroyed). */
  log(vdi: string): CbtRecord | null
  bitmap(record: CbtRecord): Promise<Uint8Array>
}

export async function listChangedBlocks(access: CbtChainAccess, from: string, to: string): Promise<string> {
  if (from === to) throw smFailure(460, 'Source and target VDI are same')
  const fromLog = access.log(from)
  const toLog = access.log(to)
  const unrelated = () => smFailure(460, 'Source and target VDI are unrelated')
  if (fromLog === null || toLog === null) throw unrelated()

  let merged: Uint8Array | null = null
  let mergedBits = 0
  let size = 0
  const visited = new Set<string>([from])
  for (let current = fromLog; ; ) {
    const next = current.child
    if (next === null || visited.has(next)) throw unrelated()
    const nextLog = access.log(next)
    if (nextLog === null) throw unrelated()
    visited.add(next)
    current = nextLog

    const bitmap = await access.bitmap(current)
    const bits = bitmap.length * 8
    // The bitmap must cover the disk the log claims (`Inconsistent bitmaps`).
    if (bits < Math.floor(current.size / CBT_BLOCK_SIZE)) throw smFailure(459, 'Inconsistent bitmaps')
    if (merged === null) {
      merged = Uint8Array.from(bitmap)
      mergedBits = bits
      size = current.size
    } else {
      if (current.size < size || bits < mergedBits || (current.size > size && bits <= mergedBits)) {
        throw smFailure(459, 'Inconsistent bitmaps')
      }
      if (current.size > size) {
        // The disk grew: older bitmaps read as zero beyond their end.
        const grown = new Uint8Array(bitmap.length)
        grown.set(merged)
        merged = grown
        mergedBits = bits
        size = current.size
      }
      const length = merged.length
      for (let i = 0; i < length; i++) merged[i]! |= bitmap[i] ?? 0
    }
    if (next === to) return Buffer.from(merged).toString('base64')
  }
}

/** True when the 64 KiB region `n` is marked in an MSB-first bitmap. */
export function isRegionChanged(bitmap: Uint8Array, n: number): boolean {
  return ((bitmap[n >> 3] ?? 0) & (0x80 >> (n & 7))) !== 0
}
