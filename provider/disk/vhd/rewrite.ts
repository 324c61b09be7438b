import { Duplex } from 'node:stream'
import { DiskType, LOCATOR_SECTOR_OFFSET, PlatformCode, SECTOR_SIZE, XAPI_TABLE_OFFSET } from './constants'
import { invalidArgument, VhdError } from './errors'
import { encodeFooter, type VhdFooter } from './footer'
import { encodeHeader, LOCATOR_COUNT, type VhdHeader } from './header'
import { EMPTY_LOCATOR, encodeRelativeLocator, type ParentLocatorEntry } from './locators'
import { parseVhdStream } from './stream-parser'

export interface VhdRewriteOptions {
  /** New footer unique id; XO stores the snapshot VDI uuid there. */
  uuid?: string
  /** For differencing disks: chain the stored file to its parent file. */
  parent?: {
    /** Footer unique id of the parent file. */
    uuid: string
    /** Path of the parent file relative to this file's directory, `/`-separated (e.g. `20240101T000000Z.vhd`). */
    relativePath: string
    /** Parent modification time (seconds since 2000-01-01 UTC); unchanged when omitted. */
    timestamp?: number
  }
  /** Name of the stream, for error messages. */
  name?: string
}

/**
 * Rewrites a VHD stream on its way to storage without buffering it: sets the footer unique id and, for a
 * differencing disk, the parent unique id, the parent unicode name (the relative path, which is what XO
 * follows) and a W2ru relative-path locator whose data goes into the free sector at 1536 of the XAPI
 * layout. Checksums are recomputed and both footers are rewritten identically. The input is fully
 * validated as it passes (see `parseVhdStream`); a `VhdError` means the output must be discarded.
 */
export async function* rewriteVhdStream(
  stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: VhdRewriteOptions,
): AsyncGenerator<Buffer> {
  let footerBytes: Buffer | undefined
  let locatorSector: Buffer | undefined
  for await (const item of parseVhdStream(stream, { name: options.name, includeGaps: true })) {
    switch (item.type) {
      case 'footer':
        footerBytes = encodeFooter(rewrittenFooter(item.footer, options), item.raw)
        yield footerBytes
        break
      case 'header': {
        if (options.parent === undefined) {
          yield item.raw
          break
        }
        const rewritten = rewrittenHeader(item.header, options.parent, options.name)
        locatorSector = rewritten.locatorSector
        yield encodeHeader(rewritten.header, item.raw)
        break
      }
      case 'gap':
        yield locatorSector === undefined ? item.data : overlay(item.offset, item.data, locatorSector)
        break
      case 'bat':
        yield item.raw
        break
      case 'block':
        yield item.bitmap
        yield item.data
        break
      case 'end':
        yield footerBytes!
        break
    }
  }
}

/** `rewriteVhdStream` as a Duplex for `stream.pipeline(exportStream, createVhdRewriteTransform(opts), fileStream)`. */
export function createVhdRewriteTransform(options: VhdRewriteOptions): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Uint8Array>) {
    yield* rewriteVhdStream(source, options)
  })
}

function rewrittenFooter(footer: VhdFooter, options: VhdRewriteOptions): VhdFooter {
  if (options.parent !== undefined && footer.diskType !== DiskType.Differencing) {
    throw invalidArgument(
      'a parent was given but the VHD is not a differencing disk',
      'parent',
      `disk type ${footer.diskType}`,
      DiskType.Differencing,
    )
  }
  return options.uuid === undefined ? footer : { ...footer, uniqueId: options.uuid }
}

function rewrittenHeader(
  header: VhdHeader,
  parent: NonNullable<VhdRewriteOptions['parent']>,
  name: string | undefined,
): { header: VhdHeader; locatorSector: Buffer } {
  const data = encodeRelativeLocator(PlatformCode.W2ru, parent.relativePath)
  const sectorFree = header.tableOffset >= XAPI_TABLE_OFFSET
  if (!sectorFree || data.length > SECTOR_SIZE) {
    throw new VhdError({
      code: 'VHD_NO_LOCATOR_SPACE',
      problem: sectorFree
        ? 'the relative parent path does not fit in the 512-byte locator sector'
        : 'this VHD has no free sector at 1536 for parent locator data (it is not in XAPI export layout)',
      field: sectorFree ? 'parent.relativePath' : 'header.tableOffset',
      offset: sectorFree ? LOCATOR_SECTOR_OFFSET : 528,
      expected: sectorFree ? `at most ${SECTOR_SIZE} bytes of UTF-16LE` : `>= ${XAPI_TABLE_OFFSET}`,
      actual: sectorFree ? data.length : header.tableOffset,
      source: name,
      advice: 'Store the file under a shorter relative path, or write it with the XAPI export layout.',
    })
  }
  const locator: ParentLocatorEntry = {
    platformCode: PlatformCode.W2ru,
    // one sector: the spec's unit, which XO reads as sectors and blktap accepts as sectors below 512
    platformDataSpace: 1,
    platformDataLength: data.length,
    platformDataOffset: LOCATOR_SECTOR_OFFSET,
  }
  const locators = [locator, ...Array.from({ length: LOCATOR_COUNT - 1 }, () => EMPTY_LOCATOR)]
  const locatorSector = Buffer.alloc(SECTOR_SIZE)
  data.copy(locatorSector)
  return {
    header: {
      ...header,
      parentUniqueId: parent.uuid,
      parentUnicodeName: parent.relativePath.replace(/^\.\//, ''),
      parentTimestamp: parent.timestamp ?? header.parentTimestamp,
      parentLocators: locators,
    },
    locatorSector,
  }
}

/** The gap bytes with the locator sector written over the part of [1536, 2048) they cover. */
function overlay(offset: number, data: Buffer, sector: Buffer): Buffer {
  const start = Math.max(offset, LOCATOR_SECTOR_OFFSET)
  const end = Math.min(offset + data.length, LOCATOR_SECTOR_OFFSET + SECTOR_SIZE)
  if (start >= end) return data
  const copy = Buffer.from(data)
  sector.copy(copy, start - offset, start - LOCATOR_SECTOR_OFFSET, end - LOCATOR_SECTOR_OFFSET)
  return copy
}
