import { DiskType, isSectorSet, type VhdStreamItem } from '../../../provider/disk'
import type { BlockWrite, SrEngine } from '../../storage'
import { BLOCK_SIZE } from '../../storage/sizes'
import { deviceIoError } from './transfer-faults'

/**
 * Writing an incoming image into a VDI, in 2 MiB blocks handed to SM in batches (`writeBlocks`), with
 * bounded memory: one block being assembled plus SM's batch.
 */

/** The `content-length` the xen-api client sends for a stream of unknown length (1 PiB). */
export const PIB_CONTENT_LENGTH = 1125899906842624

/** Writes a raw image from offset 0; all-zero blocks over nothing are skipped (the VDI reads zeros there). Returns the bytes. */
export async function applyRawStream(
  engine: SrEngine,
  uuid: string,
  size: number,
  source: AsyncIterable<Buffer>,
): Promise<number> {
  let total = 0
  const failure: { error?: unknown } = {}
  async function* blocks(): AsyncGenerator<BlockWrite> {
    let index = 0
    let pending: Buffer[] = []
    let filled = 0
    for await (const chunk of untilError(source, failure)) {
      total += chunk.length
      // vhd-tool fails writing past the end of the device.
      if (total > size) throw deviceIoError()
      let data = chunk
      while (data.length > 0) {
        const take = Math.min(BLOCK_SIZE - filled, data.length)
        pending.push(data.subarray(0, take))
        filled += take
        data = data.subarray(take)
        if (filled === BLOCK_SIZE) {
          yield { index, data: Buffer.concat(pending, filled) }
          index++
          pending = []
          filled = 0
        }
      }
    }
    if (filled > 0) yield { index, data: Buffer.concat(pending, filled) }
  }
  await engine.writeBlocks(uuid, blocks(), { skipZeroUnallocated: true })
  if ('error' in failure) throw failure.error
  return total
}

/**
 * The items of `source` until it fails; the failure is kept in `failure` instead of thrown, so that
 * what was received before it is still written (SM commits blocks in batches), as a device would have
 * it, and the caller rethrows it afterwards.
 */
async function* untilError<T>(source: AsyncIterable<T>, failure: { error?: unknown }): AsyncGenerator<T> {
  try {
    yield* source
  } catch (error) {
    failure.error = error
  }
}

/**
 * Applies a parsed VHD stream to a VDI: each allocated block's data goes to its place. For a dynamic
 * disk unset sectors read as zeros; for a differencing disk only the sectors its bitmap sets are
 * written, the others keep the VDI's content (the parent's view).
 */
export async function applyVhdStream(
  engine: SrEngine,
  uuid: string,
  size: number,
  items: AsyncIterable<VhdStreamItem>,
  onItem: (item: VhdStreamItem) => void,
): Promise<void> {
  let differencing = false
  let blockSize = BLOCK_SIZE
  const failure: { error?: unknown } = {}
  async function* blocks(): AsyncGenerator<BlockWrite> {
    for await (const item of untilError(items, failure)) {
      onItem(item)
      if (item.type === 'footer') {
        differencing = item.footer.diskType === DiskType.Differencing
        if (item.footer.currentSize > size) throw deviceIoError()
      }
      if (item.type === 'header') blockSize = item.header.blockSize
      if (item.type !== 'block') continue
      const offset = item.index * blockSize
      const length = Math.max(0, Math.min(blockSize, size - offset))
      const data = item.data.subarray(0, length)
      const sectors = Math.ceil(length / 512)
      const set = (sector: number) => isSectorSet(item.bitmap, sector)
      let full = true
      for (let s = 0; s < sectors && full; s++) full = set(s)
      if (!full && !differencing) {
        // Unset sectors of a dynamic disk are zeros, whatever the block holds there.
        for (let s = 0; s < sectors; s++) if (!set(s)) data.fill(0, s * 512, Math.min(length, (s + 1) * 512))
        full = true
      }
      if (full && blockSize === BLOCK_SIZE) {
        if (length > 0) yield { index: item.index, data }
        continue
      }
      for (let s = 0; s < sectors; ) {
        if (!full && !set(s)) {
          s++
          continue
        }
        let e = s
        while (e < sectors && (full || set(e))) e++
        await engine.write(uuid, offset + s * 512, data.subarray(s * 512, Math.min(length, e * 512)))
        s = e
      }
    }
  }
  await engine.writeBlocks(uuid, blocks())
  if ('error' in failure) throw failure.error
}
