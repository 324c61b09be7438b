import type { RandomAccessFile } from '../io'
import { detectCompression, type XvaCompression } from './compression'
import { XvaError } from './errors'
import { decodeTarHeader, TAR_BLOCK, tarPadding } from './tar'
import { readXva } from './xva-reader'

export interface XvaCheck {
  valid: boolean
  compression: XvaCompression
  /** What is wrong, or for compressed files checked only by their magic number, what was not checked. */
  reason?: string
  code?: XvaError['code']
  offset?: number
  /** Tar entries walked (uncompressed files, or `deep`). */
  entries?: number
}

/**
 * Checks a stored XVA. XO's check (`isValidXva`): at least 20 bytes; gzip or zstd magic is enough; a plain tar
 * must be a whole number of blocks ending with 1024 zero bytes. That last test passes for a tar cut right
 * after zeros (a zero chunk), so for plain files this also walks the tar headers (one 512-byte read per entry,
 * data skipped) and requires the end marker where the walk arrives. With `deep`, reads the whole file
 * through `readXva` (decompressing, verifying every chunk hash).
 */
export async function checkXvaFile(
  file: RandomAccessFile,
  options: { name?: string; deep?: boolean } = {},
): Promise<XvaCheck> {
  const size = await file.size()
  const compression = detectCompression(await file.read(0, 4))
  if (size < 20)
    return { valid: false, compression, reason: `the file is only ${size} bytes`, code: 'XVA_TRUNCATED', offset: size }
  if (options.deep) return deepCheck(file, size, compression, options.name)
  if (compression !== 'none') {
    return {
      valid: true,
      compression,
      reason: `${compression} data is not checked beyond its magic number without deep: true`,
    }
  }
  if (size % TAR_BLOCK !== 0) {
    return {
      valid: false,
      compression,
      reason: `a tar is a whole number of 512-byte blocks, this file is ${size} bytes`,
      code: 'XVA_TRUNCATED',
      offset: size,
    }
  }
  const tail = await file.read(size - 2 * TAR_BLOCK, 2 * TAR_BLOCK)
  if (!tail.every((b) => b === 0)) {
    return {
      valid: false,
      compression,
      reason: 'the file does not end with the tar end marker (two zero blocks): the export was cut',
      code: 'XVA_TRUNCATED',
      offset: size,
    }
  }
  return walkTar(file, size)
}

async function walkTar(file: RandomAccessFile, size: number): Promise<XvaCheck> {
  let offset = 0
  let entries = 0
  try {
    while (offset + TAR_BLOCK <= size) {
      const block = await file.read(offset, TAR_BLOCK)
      const header = decodeTarHeader(block, offset, { kind: 'file' })
      if (header === undefined) {
        const next = await file.read(offset + TAR_BLOCK, TAR_BLOCK)
        if (next.length === TAR_BLOCK && next.every((b) => b === 0))
          return { valid: true, compression: 'none', entries }
        return {
          valid: false,
          compression: 'none',
          reason: `a zero block at byte ${offset} is not an end marker`,
          code: 'XVA_BAD_TAR_HEADER',
          offset,
          entries,
        }
      }
      entries++
      const next = offset + TAR_BLOCK + header.size + tarPadding(header.size).length
      if (next > size) {
        return {
          valid: false,
          compression: 'none',
          reason: `entry ${header.name} at byte ${offset} needs ${header.size} bytes of data but the file ends at byte ${size}: the export was cut`,
          code: 'XVA_TRUNCATED',
          offset: size,
          entries,
        }
      }
      offset = next
    }
  } catch (error) {
    if (error instanceof XvaError)
      return {
        valid: false,
        compression: 'none',
        reason: error.message,
        code: error.code,
        offset: error.offset,
        entries,
      }
    throw error
  }
  return {
    valid: false,
    compression: 'none',
    reason: `the tar entries run to the end of the file at byte ${size} without an end marker: the export was cut`,
    code: 'XVA_TRUNCATED',
    offset: size,
    entries,
  }
}

async function deepCheck(
  file: RandomAccessFile,
  size: number,
  compression: XvaCompression,
  name: string | undefined,
): Promise<XvaCheck> {
  let entries = 0
  try {
    for await (const item of readXva(fileChunks(file, size), { name, kind: 'file' })) {
      if (item.type !== 'end') entries++
    }
    return { valid: true, compression, entries }
  } catch (error) {
    if (error instanceof XvaError)
      return { valid: false, compression, reason: error.message, code: error.code, offset: error.offset, entries }
    throw error
  }
}

async function* fileChunks(file: RandomAccessFile, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < size; offset += 1024 * 1024)
    yield await file.read(offset, Math.min(1024 * 1024, size - offset))
}
