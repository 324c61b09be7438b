import { DiskFormatError } from '../errors'

export const XvaErrorCode = [
  'XVA_TRUNCATED',
  'XVA_BAD_TAR_CHECKSUM',
  'XVA_BAD_TAR_HEADER',
  'XVA_BAD_COMPRESSION',
  'XVA_MISSING_OVA_XML',
  'XVA_UNKNOWN_ENTRY',
  'XVA_MISSING_HASH',
  'XVA_HASH_MISMATCH',
  'XVA_CHUNK_OUT_OF_ORDER',
  'XVA_BAD_CHUNK_SIZE',
  'XVA_ENTRY_TOO_LARGE',
  'XVA_INVALID_ARGUMENT',
] as const
export type XvaErrorCode = (typeof XvaErrorCode)[number]

/** Any problem with an XVA (full VM export) stream or file. `field` is the tar entry name when there is one. */
export class XvaError extends DiskFormatError<XvaErrorCode> {}

export interface XvaSource {
  name?: string
  kind: 'stream' | 'file'
}

export function xvaAdvice(source: XvaSource): string {
  return source.kind === 'stream'
    ? 'The export is incomplete or corrupt, so the backup was not kept. Run the backup again; if it fails the same way, check the export task on the host.'
    : 'This stored XVA is damaged (an interrupted write or storage corruption) and cannot be trusted for a restore; run a new full backup.'
}
