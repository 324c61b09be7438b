/** VHD on-disk constants (Microsoft VHD specification v1.0; integers are big-endian). */

export const SECTOR_SIZE = 512
export const FOOTER_SIZE = 512
export const HEADER_SIZE = 1024
/** Offset of the dynamic header in dynamic and differencing disks (footer.dataOffset). */
export const HEADER_OFFSET = 512
/** The block size XenServer, XO and qemu write: 2 MiB. */
export const DEFAULT_BLOCK_SIZE = 2 * 1024 * 1024
/** BAT entry of a block that is not allocated in this file. */
export const BLOCK_UNUSED = 0xffffffff
/** Table offset of XAPI export streams: footer, header, then one free sector (1536..2047) before the BAT. */
export const XAPI_TABLE_OFFSET = 2048
/** The free sector of the XAPI layout; we keep the parent locator data of stored differencing disks there. */
export const LOCATOR_SECTOR_OFFSET = 1536

export const FOOTER_COOKIE = 'conectix'
export const HEADER_COOKIE = 'cxsparse'
/** bit 1 ("reserved") must always be set. */
export const FEATURES_RESERVED = 0x00000002
export const FILE_FORMAT_VERSION = 0x00010000
export const HEADER_VERSION = 0x00010000

export const DiskType = { Fixed: 2, Dynamic: 3, Differencing: 4 } as const
export type DiskType = (typeof DiskType)[keyof typeof DiskType]

/** Parent locator platform codes. */
export const PlatformCode = {
  None: 0,
  Wi2r: 0x57693272,
  Wi2k: 0x5769326b,
  /** Relative Windows path, UTF-16LE. */
  W2ru: 0x57327275,
  /** Absolute Windows path, UTF-16LE. */
  W2ku: 0x57326b75,
  Mac: 0x4d616320,
  /** File URL, UTF-8. */
  MacX: 0x4d616358,
} as const

/** Creator host OS values. */
export const HostOs = { Windows: 0x5769326b, Macintosh: 0x4d616320, None: 0 } as const

/** VHD timestamps count seconds since 2000-01-01T00:00:00Z. */
export const VHD_EPOCH_MS = Date.UTC(2000, 0, 1)

export function toVhdTimestamp(date: Date): number {
  return Math.max(0, Math.floor((date.getTime() - VHD_EPOCH_MS) / 1000)) >>> 0
}

export function fromVhdTimestamp(timestamp: number): Date {
  return new Date(VHD_EPOCH_MS + timestamp * 1000)
}
