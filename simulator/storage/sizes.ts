/**
 * Size arithmetic of the storage manager, restated from xapi-project/sm (`vhdutil.py`, `lvhdutil.py`,
 * `lvutil.py`) so that utilisation, free space and the space checks of snapshot and coalesce give the
 * numbers a real host gives (storage-semantics.md §2.3, §2.6, §4.5, §8.2).
 */

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB
export const TiB = 1024 * GiB

/** VHD data block; the unit of allocation, copy-on-write, coalesce and export. */
export const BLOCK_SIZE = 2 * MiB
/** Bytes an allocated block adds to a VHD file: a one-sector bitmap plus the data. */
export const BLOCK_FILE_COST = BLOCK_SIZE + 512
/** `vhdutil.MIN_VHD_SIZE` / `MAX_VHD_SIZE`. */
export const MIN_VHD_SIZE = 2 * MiB
export const MAX_VHD_SIZE = 2040 * GiB
/** `vhdutil.MAX_CHAIN_SIZE`: snapshot and clone refuse a leaf at this depth. */
export const MAX_CHAIN_DEPTH = 30

/** `lvutil.LVM_SIZE_INCREMENT`: LVs grow in 4 MiB extents. */
export const LVM_SIZE_INCREMENT = 4 * MiB
/** `lvhdutil.MSIZE`: LVHD VHDs preallocate metadata for this virtual size (fast online resize). */
export const LVHD_METADATA_SIZE = 2 * TiB
/** `journaler.LV_SIZE`: a snapshot needs two of these transiently (clone and inflate journals). */
export const LVHD_JOURNAL_SIZE = 4 * MiB
/** A CBT log on LVHD is its own 4 MiB LV. */
export const LVHD_CBT_LOG_SIZE = 4 * MiB

/** `CBT_BLOCK_SIZE`: one bit of a changed-block-tracking log covers 64 KiB. */
export const CBT_BLOCK_SIZE = 64 * KiB

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple
}

export function blockCount(virtualSize: number): number {
  return Math.ceil(virtualSize / BLOCK_SIZE)
}

/** `vhdutil.calcOverheadEmpty`: metadata of an empty VHD (10 GiB → 24 576 B, 60 GiB → 128 KiB). */
export function calcOverheadEmpty(virtualSize: number): number {
  const halfMiB = Math.floor(Math.floor(virtualSize / MiB) / 2)
  return roundUp(roundUp(3 * KiB + 4 * halfMiB, 512) + Math.floor(halfMiB / 8), 4096)
}

/** `vhdutil.calcOverheadBitmap`: what SM budgets for the sector bitmaps of `size` bytes of data. */
export function calcOverheadBitmap(size: number): number {
  return blockCount(size) * 4096
}

/** Physical size of a VHD file on a file SR holding `allocated` blocks. */
export function vhdFileSize(virtualSize: number, allocated: number): number {
  return calcOverheadEmpty(virtualSize) + allocated * BLOCK_FILE_COST
}

/** Physical size of a VHD inside an LV: metadata is preallocated for `LVHD_METADATA_SIZE`. */
export function lvhdVhdSize(allocated: number): number {
  return calcOverheadEmpty(LVHD_METADATA_SIZE) + allocated * BLOCK_FILE_COST
}

/** `lvhdutil.calcSizeLV`: an LV just big enough for `size` bytes. */
export function lvSizeFor(size: number): number {
  return roundUp(size, LVM_SIZE_INCREMENT)
}

/** `lvhdutil.calcSizeVHDLV`: a fully inflated LV (10 GiB → +28 MiB, 100 GiB → +208 MiB). */
export function inflatedLvSize(virtualSize: number): number {
  return lvSizeFor(virtualSize + calcOverheadEmpty(LVHD_METADATA_SIZE) + calcOverheadBitmap(virtualSize))
}

/** An empty (thin) LVHD VDI: room for the preallocated metadata only, 8 MiB. */
export const THIN_LV_SIZE = lvSizeFor(calcOverheadEmpty(LVHD_METADATA_SIZE))

/** A deflated LV: rounded up to the VHD it holds. */
export function deflatedLvSize(allocated: number): number {
  return lvSizeFor(lvhdVhdSize(allocated))
}

/** Bytes of a changed-block bitmap for a disk of `size` bytes. */
export function cbtBitmapBytes(size: number): number {
  return Math.ceil(Math.ceil(size / CBT_BLOCK_SIZE) / 8)
}

/** A cbtlog file on a file SR: the 48-byte `cbt_log_metadata` header and the bitmap. */
export function cbtLogFileSize(size: number): number {
  return 48 + cbtBitmapBytes(size)
}
