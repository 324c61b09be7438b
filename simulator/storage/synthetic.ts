import { createCipheriv, createHash } from 'node:crypto'
import { BLOCK_SIZE } from './sizes'

/**
 * Synthetic disk contents: blocks that count as allocated and read as reproducible pseudo-random bytes
 * generated from `(seed, block index)`, with nothing stored. A fixture's "100 GiB disk, 40 % full"
 * then costs no disk space here, yet exports real bytes that every test run sees identically.
 *
 * The bytes are AES-128-CTR keystream (native, about 1 ms per 2 MiB block): key from the seed,
 * counter starting at `index << 64`, so blocks never share keystream.
 */

const zeroBlock = new Uint8Array(BLOCK_SIZE)

export function isSyntheticSeed(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffffffff
}

export function syntheticBlock(seed: number, index: number): Buffer {
  const key = createHash('sha256').update(`xcp-backup synthetic block seed ${seed}`).digest().subarray(0, 16)
  const iv = Buffer.alloc(16)
  iv.writeBigUInt64BE(BigInt(index), 0)
  const cipher = createCipheriv('aes-128-ctr', key, iv)
  const out = cipher.update(zeroBlock)
  cipher.final()
  return out
}

/** A deterministic small PRNG (mulberry32) for layouts; not for contents. */
function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Splits `total` into `parts` non-negative integers with random proportions. */
function randomComposition(total: number, parts: number, random: () => number, minimum: number): number[] {
  const spare = total - minimum * parts
  const weights = Array.from({ length: parts }, () => 0.25 + random())
  const sum = weights.reduce((a, b) => a + b, 0)
  const shares = weights.map((w) => minimum + Math.floor((w / sum) * spare))
  let missing = total - shares.reduce((a, b) => a + b, 0)
  for (let i = 0; missing > 0; i = (i + 1) % parts, missing--) shares[i]!++
  return shares
}

/** Mean extent length of a synthetic layout: 256 blocks (512 MiB), like files and filesystems cluster. */
const MEAN_EXTENT_BLOCKS = 256

/**
 * The blocks a synthetic fill allocates: exactly `round(fraction * blocks)` blocks in a few extents
 * separated by gaps, both sized from the seed. A fraction of 1 is one extent over the whole disk.
 */
export function syntheticLayout(seed: number, blocks: number, fraction: number): Array<{ start: number; end: number }> {
  if (!(fraction >= 0 && fraction <= 1))
    throw new RangeError(`synthetic fill fraction ${fraction} is not within [0, 1]`)
  const target = Math.round(fraction * blocks)
  if (target === 0) return []
  if (target === blocks) return [{ start: 0, end: blocks }]
  const random = prng(seed ^ 0x5bd1e995)
  const extents = Math.max(1, Math.min(target, blocks - target + 1, Math.round(target / MEAN_EXTENT_BLOCKS)))
  const lengths = randomComposition(target, extents, random, 1)
  // Inner gaps must be at least one block, or neighbouring extents would merge into one.
  const gaps = [
    ...randomComposition(blocks - target - (extents - 1), extents + 1, random, 0).map((g, i, all) =>
      i === 0 || i === all.length - 1 ? g : g + 1,
    ),
  ]
  const layout: Array<{ start: number; end: number }> = []
  let position = gaps[0]!
  for (let i = 0; i < extents; i++) {
    layout.push({ start: position, end: position + lengths[i]! })
    position += lengths[i]! + gaps[i + 1]!
  }
  return layout
}
