/**
 * Failures of the storage manager, as the XAPI errors a real pool returns: `code` and `params` are
 * exactly what a client sees in `error.code` / `error.params`, except that objects are named by uuid.
 * The XAPI layer turns them into refs with `toXapiParams` before answering.
 */

export type ObjectClass = 'VDI' | 'SR'

export interface ObjectMention {
  readonly cls: ObjectClass
  readonly uuid: string
}

export class StorageError extends Error {
  override readonly name = 'StorageError'

  constructor(
    /** XAPI error code, e.g. `SR_BACKEND_FAILURE_44`, `VDI_IN_USE`. */
    readonly code: string,
    /** XAPI error params, objects named by uuid. */
    readonly params: readonly string[],
    /** Objects whose uuid appears in `params` (alone or inside a sentence) and must become refs. */
    readonly objects: readonly ObjectMention[] = [],
    /** What happened, for logs and test failures; never part of the XAPI answer. */
    readonly detail?: string,
  ) {
    super(`${code}(${params.map((param) => JSON.stringify(param)).join(', ')})${detail ? `: ${detail}` : ''}`)
  }

  /** `params` with every mentioned uuid replaced by the object's ref, as XAPI would word them. */
  toXapiParams(refOf: (cls: ObjectClass, uuid: string) => string): string[] {
    return this.params.map((param) =>
      this.objects.reduce((text, { cls, uuid }) => text.split(uuid).join(refOf(cls, uuid)), param),
    )
  }
}

export function isStorageError(error: unknown, code?: string): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code)
}

/** Descriptions from `XE_SR_ERRORCODES.xml` for the SM failures the simulator raises. */
const smDescriptions = {
  38: 'The requested method is not supported/implemented',
  44: 'There is insufficient space',
  46: 'The VDI is not available',
  66: 'Invalid VDI type',
  79: 'VDI Invalid size',
  81: 'Failed to clone VDI',
  109: 'The snapshot chain is too long',
  180: 'Volume Group out of space. The SR is over-provisioned, and out of space. Unable to grow the underlying volume to accommodate the virtual size of the disk.',
  457: 'Unable to activate changed block tracking.',
  459: 'Changed block tracking log is in an inconsistent state.',
  460: 'Failed to calculate changed blocks for given VDIs.',
} as const

export type SmErrorNumber = keyof typeof smDescriptions

/** `SR_BACKEND_FAILURE_<n>` with params `["", "<description>[ [opterr=...]]", ""]` (`sm_exec.ml`, `xs_errors.py`). */
export function smFailure(n: SmErrorNumber, opterr?: string, detail?: string): StorageError {
  const description = opterr === undefined ? smDescriptions[n] : `${smDescriptions[n]} [opterr=${opterr}]`
  return new StorageError(`SR_BACKEND_FAILURE_${n}`, ['', description, ''], [], detail)
}

const vdi = (uuid: string): ObjectMention => ({ cls: 'VDI', uuid })

export const errors = {
  vdiNotManaged: (uuid: string) => new StorageError('VDI_NOT_MANAGED', [uuid], [vdi(uuid)]),
  vdiInUse: (uuid: string, operation: string) => new StorageError('VDI_IN_USE', [uuid, operation], [vdi(uuid)]),
  vdiIsSharable: (uuid: string) => new StorageError('VDI_IS_SHARABLE', [uuid], [vdi(uuid)]),
  vdiOnBootIncompatible: () => new StorageError('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', []),
  vdiIncompatibleType: (uuid: string, type: string) =>
    new StorageError('VDI_INCOMPATIBLE_TYPE', [uuid, type], uuid === '' ? [] : [vdi(uuid)]),
  vdiNoCbtMetadata: (uuid: string) => new StorageError('VDI_NO_CBT_METADATA', [uuid], [vdi(uuid)]),
  vdiReadOnly: (uuid: string, detail?: string) => new StorageError('VDI_READ_ONLY', [uuid], [vdi(uuid)], detail),
  vdiIoError: (detail: string) => new StorageError('VDI_IO_ERROR', ['Device I/O errors'], [], detail),
  operationNotAllowed: (reason: string, about?: string) =>
    new StorageError('OPERATION_NOT_ALLOWED', [reason], about === undefined ? [] : [vdi(about)]),
  srOperationNotSupported: (sr: string, detail?: string) =>
    new StorageError('SR_OPERATION_NOT_SUPPORTED', [sr], [{ cls: 'SR', uuid: sr }], detail),
  srNotEmpty: () => new StorageError('SR_NOT_EMPTY', []),
  uuidInvalid: (cls: ObjectClass, uuid: string) => new StorageError('UUID_INVALID', [cls, uuid]),
  internal: (message: string) => new StorageError('INTERNAL_ERROR', [message]),
  invalidArgument: (field: string, problem: string) =>
    new StorageError('INVALID_VALUE', [field, problem], [], `${field}: ${problem}`),
}
