import type { RandomAccessFile } from '../../disk/io'
import { type MergeCheckpoint, mergeVhdFiles } from '../../disk/vhd/merge'
import { VhdFile } from '../../disk/vhd/vhd-file'
import type { RemoteBackend } from '../backend'
import { type MergeState, removeMergeState, writeMergeState } from '../layout/merge-state'
import type { Lock } from '../lock'
import { remoteBasename } from '../path'

/**
 * Merges a child VHD into its parent on the remote, in place and resumably, then gives the parent
 * the child's name (docs/remote-format.md §7):
 *
 *   1. state `.<parent>.merge.json` written (step mergeBlocks, currentBlock 0)
 *   2. the child's allocated blocks copied into the parent (`mergeVhdFiles`: durable batches; the
 *      parent stays a valid VHD whose view under the child never changes), the state's currentBlock
 *      advanced at most every `stateIntervalMs`, always behind what is durable
 *   3. the parent takes the child's identity (footer uuid, size, timestamp)
 *   4. state written with step cleanup
 *   5. parent renamed to the child's path (replacing the child)
 *   6. state removed
 *
 * A crash anywhere is recovered by clean-vm: before 3, resuming from currentBlock (or from block 0,
 * which is always correct) repeats at most one interval of work; after 3 the parent holds the whole
 * merged disk under the child's uuid, which is how recovery recognises it and finishes 4–6 even when
 * the state or the child is gone (SMB's rename deletes the target before renaming).
 */

export interface DiskMergeOptions {
  /** Asserted at every checkpoint and before each step that changes names: a lost lock stops the merge. */
  lock: Lock
  /** The state file left by an interrupted merge of this parent, to resume from its currentBlock. */
  resume?: MergeState
  /** Longest time between two state writes while blocks are copied (default 5 s). */
  stateIntervalMs?: number
  /** Child blocks per durable step (see `mergeVhd`). */
  blocksPerCheckpoint?: number
  onProgress?: (progress: { mergedBlocks: number; totalBlocks: number; mergedBytes: number }) => void
}

export interface DiskMergeOutcome {
  /** A state was resumed (false when there was none, or it did not describe these two files). */
  resumed: boolean
  /** Why a state that was given was not used; the merge then started from block 0. */
  stateIgnored: string | undefined
  fromBlock: number
  /** Child blocks copied in this run. */
  mergedBlocks: number
  /** Bytes of child sectors copied so far, this run and earlier runs of the same merge. */
  mergedBytes: number
  totalBlocks: number
  finalSize: number
  durationMs: number
}

export const DEFAULT_STATE_INTERVAL_MS = 5_000

export async function mergeDisk(
  backend: RemoteBackend,
  parentPath: string,
  childPath: string,
  options: DiskMergeOptions,
): Promise<DiskMergeOutcome> {
  const started = performance.now()
  const interval = options.stateIntervalMs ?? DEFAULT_STATE_INTERVAL_MS
  options.lock.assertHeld()

  let state: MergeState
  let from: MergeCheckpoint | undefined
  let stateIgnored: string | undefined
  let totalBlocks = 0
  let result: MergeCheckpoint
  const parentFile = await backend.open(parentPath, 'update')
  try {
    const childFile = await backend.open(childPath, 'read')
    try {
      const start = await startingPoint(parentFile, childFile, parentPath, childPath, options.resume)
      stateIgnored = start.stateIgnored
      from = start.from
      totalBlocks = start.totalBlocks
      state = start.state
      if (from === undefined) await writeMergeState(backend, parentPath, state)

      let lastWrite = performance.now()
      result = await mergeVhdFiles(parentFile, childFile, {
        from,
        blocksPerCheckpoint: options.blocksPerCheckpoint,
        parentName: parentPath,
        childName: childPath,
        onCheckpoint: async (checkpoint) => {
          options.lock.assertHeld()
          options.onProgress?.({
            mergedBlocks: checkpoint.mergedBlocks,
            totalBlocks: checkpoint.totalBlocks,
            mergedBytes: checkpoint.mergedBytes,
          })
          // The checkpoint is durable in the parent: the state may now say so.
          state.currentBlock = checkpoint.nextBlock
          state.mergedDataSize = checkpoint.mergedBytes
          if (performance.now() - lastWrite >= interval) {
            await writeMergeState(backend, parentPath, state)
            lastWrite = performance.now()
          }
        },
      })
    } finally {
      await childFile.close()
    }
  } finally {
    await parentFile.close()
  }

  const finalSize = (await backend.stat(parentPath)).size
  state.step = 'cleanup'
  state.currentBlock = result.nextBlock
  state.mergedDataSize = result.mergedBytes
  state.diskSize = finalSize
  options.lock.assertHeld()
  await writeMergeState(backend, parentPath, state)
  options.lock.assertHeld()
  await backend.rename(parentPath, childPath)
  await removeMergeState(backend, parentPath)
  const fromBlock = from?.nextBlock ?? 0
  return {
    resumed: from !== undefined,
    stateIgnored,
    fromBlock,
    mergedBlocks: result.mergedBlocks - (from?.mergedBlocks ?? 0),
    mergedBytes: result.mergedBytes,
    totalBlocks,
    finalSize,
    durationMs: performance.now() - started,
  }
}

/**
 * Where this run starts: from the given state when it describes these two files (its child uuid is
 * the child's, its parent uuid the parent's or, once the parent took over, the child's), otherwise
 * from block 0 with a fresh state.
 */
async function startingPoint(
  parentFile: RandomAccessFile,
  childFile: RandomAccessFile,
  parentPath: string,
  childPath: string,
  resume: MergeState | undefined,
): Promise<{ state: MergeState; from: MergeCheckpoint | undefined; stateIgnored?: string; totalBlocks: number }> {
  const child = await VhdFile.open(childFile, { name: childPath })
  const parent = await VhdFile.open(parentFile, { name: parentPath, tolerateFooterMismatch: true })
  const entries = Math.ceil(child.virtualSize / child.header.blockSize)
  const blocks = child.allocatedBlocks().filter((index) => index < entries)
  const fresh: MergeState = {
    child: { uuid: child.uuid },
    parent: { uuid: parent.uuid },
    chain: [remoteBasename(parentPath), remoteBasename(childPath)],
    currentBlock: 0,
    mergedDataSize: 0,
    step: 'mergeBlocks',
    diskSize: 0,
  }
  if (resume === undefined) return { state: fresh, from: undefined, totalBlocks: blocks.length }
  const ignored = (reason: string) => ({
    state: fresh,
    from: undefined,
    stateIgnored: reason,
    totalBlocks: blocks.length,
  })
  if (resume.child.uuid !== child.uuid) {
    return ignored(`its child uuid ${resume.child.uuid} is not ${childPath}'s (${child.uuid})`)
  }
  if (resume.parent.uuid !== parent.uuid && parent.uuid !== child.uuid) {
    return ignored(`its parent uuid ${resume.parent.uuid} is not ${parentPath}'s (${parent.uuid})`)
  }
  if (resume.step === 'cleanup' && parent.uuid !== child.uuid) {
    // "cleanup" vouches for every block; a parent without the child's identity contradicts it.
    return ignored(`it says the blocks are merged, but ${parentPath} has not taken the child's identity`)
  }
  const nextBlock = Math.max(0, resume.currentBlock ?? 0)
  return {
    state: { ...fresh, ...resume, parent: { uuid: resume.parent.uuid }, child: { uuid: child.uuid } },
    from: {
      nextBlock,
      mergedBlocks: blocks.filter((index) => index < nextBlock).length,
      mergedBytes: Math.round(resume.mergedDataSize),
      totalBlocks: blocks.length,
    },
    totalBlocks: blocks.length,
  }
}
