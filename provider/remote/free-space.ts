import type { FreeSpace } from './backend'
import { formatBytes, RemoteError } from './errors'

const whatToDo =
  'Lower the retention of the jobs writing to this remote, free space on it, or add another remote for some of the VMs.'

export interface NoSpaceDetails {
  remote: string
  path: string
  /** Bytes the transfer needs in total, when known. */
  needed?: number
  /** Bytes already written when the space ran out (a mid-transfer failure). */
  written?: number
  free: FreeSpace | undefined
  cause?: unknown
}

/** The ENOSPC error people read in a run log: where, how much is free, how much was needed, what to do. */
export function noSpaceError(details: NoSpaceDetails): RemoteError {
  const free = details.free === undefined ? 'free space unknown' : `${formatBytes(details.free.available)} free`
  const needed =
    details.needed !== undefined
      ? `${formatBytes(details.needed)} needed`
      : details.written !== undefined
        ? `more than ${formatBytes(details.written)} needed`
        : 'size needed unknown'
  const when =
    details.written === undefined
      ? 'nothing was written'
      : `the partial file of ${formatBytes(details.written)} was removed and existing backups are untouched`
  return new RemoteError(
    'ENOSPC',
    `not enough space on remote ${details.remote} to write "${details.path}": ${free}, ${needed}; ${when}. ${whatToDo}`,
    { remote: details.remote, path: details.path, cause: details.cause, systemCode: 'ENOSPC' },
  )
}

/**
 * Fails with ENOSPC before a transfer of `expectedSize` bytes that cannot fit. Backends that cannot
 * report free space pass (the write itself will still fail cleanly if space runs out).
 */
export async function checkFreeSpace(
  source: { name: string; freeSpace(): Promise<FreeSpace | undefined> },
  path: string,
  expectedSize: number,
): Promise<void> {
  const free = await source.freeSpace()
  if (free !== undefined && free.available < expectedSize) {
    throw noSpaceError({ remote: source.name, path, needed: expectedSize, free })
  }
}
