import { DiskFormatError } from '../errors'

export const VhdErrorCode = [
  'VHD_TRUNCATED',
  'VHD_BAD_COOKIE',
  'VHD_BAD_CHECKSUM',
  'VHD_BAD_DATA_OFFSET',
  'VHD_UNSUPPORTED_VERSION',
  'VHD_UNSUPPORTED_DISK_TYPE',
  'VHD_BAD_SIZE',
  'VHD_BAD_BLOCK_SIZE',
  'VHD_BAD_TABLE_OFFSET',
  'VHD_BAT_TOO_SMALL',
  'VHD_BAT_ENTRY_PAST_END',
  'VHD_BAT_ENTRY_IN_METADATA',
  'VHD_BLOCKS_OVERLAP',
  'VHD_NOT_STREAMABLE',
  'VHD_FOOTER_MISMATCH',
  'VHD_BAD_LOCATOR',
  'VHD_NO_LOCATOR_SPACE',
  'VHD_PARENT_MISMATCH',
  'VHD_BAD_CHAIN',
  'VHD_INVALID_ARGUMENT',
] as const
export type VhdErrorCode = (typeof VhdErrorCode)[number]

/** Any problem with a VHD file or stream, or with arguments given to the VHD functions. */
export class VhdError extends DiskFormatError<VhdErrorCode> {}

/** Where a VHD came from; decides the advice given with an error. */
export interface VhdSource {
  /** A file name, a path or a description such as `export of VDI 1234…`. */
  name?: string
  /** `stream`: an incoming export being received; `file`: a file already stored (on a remote). */
  kind: 'stream' | 'file'
}

export const streamSource = (name?: string): VhdSource => ({ kind: 'stream', name })
export const fileSource = (name?: string): VhdSource => ({ kind: 'file', name })

/** Advice for data that is corrupt or incomplete, depending on whether it is an incoming export or a stored file. */
export function corruptAdvice(source: VhdSource): string {
  return source.kind === 'stream'
    ? 'The export is incomplete or corrupt, so the backup was not kept. Run the backup again; if it fails the same way, check the export task and the SR on the host.'
    : 'This stored VHD is damaged (an interrupted write or storage corruption) and cannot be trusted for a restore. Remove it and run a new full backup of this disk; its children cannot be restored either.'
}

export function invalidArgument(problem: string, field: string, actual?: unknown, expected?: unknown): VhdError {
  return new VhdError({
    code: 'VHD_INVALID_ARGUMENT',
    problem,
    field,
    actual,
    expected,
    advice: 'This is a bug in the caller: fix the argument.',
  })
}
