/**
 * Which blocks of one VHD node are allocated, and where their bytes come from, as sorted runs.
 *
 * A run maps `[start, end)` to a source: `REAL` (bytes stored in the node's data file at
 * `index * BLOCK_SIZE`) or a synthetic seed (bytes generated from `(seed, index)` on read, nothing
 * stored). Runs are what keep a 100 GiB, 40 %-full synthetic disk at a few hundred bytes of metadata:
 * per-block maps would cost tens of thousands of entries per disk.
 */

/** Source of blocks whose bytes live in the node's data file. */
export const REAL = -1

/** `REAL`, or a synthetic seed (an unsigned 32-bit integer). */
export type BlockSource = number

export interface Run {
  readonly start: number
  readonly end: number
  readonly source: BlockSource
}

export class ExtentMap {
  private starts: number[] = []
  private ends: number[] = []
  private sources: BlockSource[] = []
  private allocated = 0

  static fromFlat(flat: readonly number[]): ExtentMap {
    if (flat.length % 3 !== 0) throw new Error(`block map has ${flat.length} numbers, expected triples`)
    const map = new ExtentMap()
    for (let i = 0; i < flat.length; i += 3) {
      const start = flat[i]!
      const length = flat[i + 1]!
      map.set(start, start + length, flat[i + 2]!)
    }
    return map
  }

  /** `[start, length, source, ...]`, the persisted form. */
  toFlat(): number[] {
    const flat: number[] = []
    for (let i = 0; i < this.starts.length; i++)
      flat.push(this.starts[i]!, this.ends[i]! - this.starts[i]!, this.sources[i]!)
    return flat
  }

  clone(): ExtentMap {
    const copy = new ExtentMap()
    copy.starts = [...this.starts]
    copy.ends = [...this.ends]
    copy.sources = [...this.sources]
    copy.allocated = this.allocated
    return copy
  }

  /** Number of allocated blocks. */
  get count(): number {
    return this.allocated
  }

  get runCount(): number {
    return this.starts.length
  }

  get(index: number): BlockSource | undefined {
    const i = this.runAtOrBefore(index)
    return i >= 0 && index < this.ends[i]! ? this.sources[i] : undefined
  }

  has(index: number): boolean {
    return this.get(index) !== undefined
  }

  *runs(): IterableIterator<Run> {
    for (let i = 0; i < this.starts.length; i++)
      yield { start: this.starts[i]!, end: this.ends[i]!, source: this.sources[i]! }
  }

  /** Allocates `[start, end)` from `source`, replacing whatever was there. */
  set(start: number, end: number, source: BlockSource): void {
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end >= start)) {
      throw new RangeError(`invalid block range [${start}, ${end})`)
    }
    if (source !== REAL && !(Number.isInteger(source) && source >= 0 && source <= 0xffffffff)) {
      throw new RangeError(`invalid block source ${source}`)
    }
    if (start === end) return
    this.delete(start, end)
    let i = this.runAtOrBefore(start) + 1
    // Merge with neighbours of the same source: synthetic bytes depend on (seed, index) only.
    let newStart = start
    let newEnd = end
    if (i > 0 && this.ends[i - 1] === start && this.sources[i - 1] === source) {
      newStart = this.starts[i - 1]!
      this.removeAt(i - 1)
      i--
    }
    if (i < this.starts.length && this.starts[i] === end && this.sources[i] === source) {
      newEnd = this.ends[i]!
      this.removeAt(i)
    }
    this.starts.splice(i, 0, newStart)
    this.ends.splice(i, 0, newEnd)
    this.sources.splice(i, 0, source)
    this.allocated += newEnd - newStart
  }

  /** Frees `[start, end)`. */
  delete(start: number, end: number): void {
    if (start >= end) return
    let i = Math.max(0, this.runAtOrBefore(start))
    while (i < this.starts.length && this.starts[i]! < end) {
      const runStart = this.starts[i]!
      const runEnd = this.ends[i]!
      if (runEnd <= start) {
        i++
        continue
      }
      const source = this.sources[i]!
      this.removeAt(i)
      if (runStart < start) {
        this.insertAt(i, runStart, start, source)
        i++
      }
      if (runEnd > end) {
        this.insertAt(i, end, runEnd, source)
        i++
      }
    }
  }

  /** Puts every run of `top` over this map: `top` wins where both are allocated (a coalesce). */
  overlay(top: ExtentMap): void {
    for (const run of top.runs()) this.set(run.start, run.end, run.source)
  }

  /** Number of blocks allocated in this map or in `other`. */
  unionCount(other: ExtentMap): number {
    let overlap = 0
    let j = 0
    for (let i = 0; i < this.starts.length; i++) {
      const start = this.starts[i]!
      const end = this.ends[i]!
      while (j < other.starts.length && other.ends[j]! <= start) j++
      for (let k = j; k < other.starts.length && other.starts[k]! < end; k++) {
        overlap += Math.min(end, other.ends[k]!) - Math.max(start, other.starts[k]!)
      }
    }
    return this.allocated + other.allocated - overlap
  }

  /** Frees everything at or beyond `blocks` (used when a disk's size is known to be smaller). */
  truncate(blocks: number): void {
    this.delete(blocks, Number.MAX_SAFE_INTEGER)
  }

  private runAtOrBefore(index: number): number {
    let low = 0
    let high = this.starts.length - 1
    let found = -1
    while (low <= high) {
      const mid = (low + high) >> 1
      if (this.starts[mid]! <= index) {
        found = mid
        low = mid + 1
      } else {
        high = mid - 1
      }
    }
    return found
  }

  private removeAt(i: number): void {
    this.allocated -= this.ends[i]! - this.starts[i]!
    this.starts.splice(i, 1)
    this.ends.splice(i, 1)
    this.sources.splice(i, 1)
  }

  private insertAt(i: number, start: number, end: number, source: BlockSource): void {
    this.starts.splice(i, 0, start)
    this.ends.splice(i, 0, end)
    this.sources.splice(i, 0, source)
    this.allocated += end - start
  }
}

/** Merges possibly overlapping `[start, end)` ranges into sorted disjoint ones. */
export function mergeRanges(ranges: Iterable<{ start: number; end: number }>): Array<{ start: number; end: number }> {
  const sorted = [...ranges].filter((r) => r.end > r.start).sort((a, b) => a.start - b.start)
  const merged: Array<{ start: number; end: number }> = []
  for (const { start, end } of sorted) {
    const last = merged[merged.length - 1]
    if (last !== undefined && start <= last.end) last.end = Math.max(last.end, end)
    else merged.push({ start, end })
  }
  return merged
}
