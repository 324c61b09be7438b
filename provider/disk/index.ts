/**
 * Disk formats for xcp-backup: VHD (XAPI export streams, stored files, chains, merges) and XVA (full VM
 * exports). Every reader validates and reports problems as `VhdError`/`XvaError` (both `DiskFormatError`s)
 * with a code, byte offset, field and advice. See docs/disk-formats.md.
 */
export { DiskFormatError, type DiskFormatErrorDetails } from './errors'
export { type OpenMode, openLocalFile, type RandomAccessFile } from './io'
export { batBytes } from './vhd/bat'
export { bitmapBytes, isSectorSet, setSector } from './vhd/bitmap'
export { assertParentOf, openVhdChain, VhdChain } from './vhd/chain'
export {
  BLOCK_UNUSED,
  DEFAULT_BLOCK_SIZE,
  DiskType,
  fromVhdTimestamp,
  PlatformCode,
  SECTOR_SIZE,
  toVhdTimestamp,
} from './vhd/constants'
export { VhdError, VhdErrorCode } from './vhd/errors'
export { decodeFooter, encodeFooter, newFooter, type VhdFooter } from './vhd/footer'
export { type Geometry, geometryForSize } from './vhd/geometry'
export { decodeHeader, encodeHeader, newHeader, type VhdHeader } from './vhd/header'
export type { ParentLocatorEntry } from './vhd/locators'
export { type MergeCheckpoint, MergeCheckpointSchema, type MergeOptions, mergeVhd, mergeVhdFiles } from './vhd/merge'
export {
  createVhdStreamFromRawBlocks,
  type RawBlockSource,
  type RawDiskOptions,
  writeVhdFileFromRawStream,
} from './vhd/raw-to-vhd'
export { createVhdRewriteTransform, rewriteVhdStream, type VhdRewriteOptions } from './vhd/rewrite'
export { type ParseVhdStreamOptions, parseVhdStream, type VhdStreamItem } from './vhd/stream-parser'
export {
  createVhdStream,
  type VhdStreamParent,
  type VhdStreamSpec,
  vhdStreamChunks,
  vhdStreamLength,
} from './vhd/stream-writer'
export {
  checkVhdFile,
  type OpenVhdOptions,
  type ParentLocator,
  type VhdBlock,
  VhdFile,
  type VhdFileSummary,
} from './vhd/vhd-file'
export { detectCompression, type XvaCompression } from './xva/compression'
export { XvaError, XvaErrorCode } from './xva/errors'
export { checkXvaFile, type XvaCheck } from './xva/is-valid-xva'
export { encodeTarHeader, readTar, TAR_END, type TarHeader, type TarItem, tarEntry } from './xva/tar'
export { type ReadXvaOptions, readXva, type XvaItem } from './xva/xva-reader'
export {
  createXvaStream,
  XVA_CHUNK_SIZE,
  type XvaDiskSource,
  type XvaWriteOptions,
  xvaTarChunks,
} from './xva/xva-writer'
export { sha1Hex, xxh64Hex } from './xva/xxhash'
