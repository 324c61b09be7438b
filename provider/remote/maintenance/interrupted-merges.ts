import { posix } from 'node:path'
import type { RemoteBackend } from '../backend'
import { readMergeState, removeMergeState } from '../layout/merge-state'
import type { Lock } from '../lock'
import { remoteBasename } from '../path'
import { mergeDisk } from './merge-disk'
import type { CleanVmResult, MergeReport } from './report'
import { mergeStateParent, readVdiDirectory, type VdiDirectory } from './vdi-directory'
import type { MetadataRead } from './vm-directory'

/**
 * Finishing merges a crash interrupted, before anything else looks at the VM's disks (a disk in
 * the middle of a merge must not be judged as an orphan or as broken). Two sources of truth:
 *
 * - state files `.<parent>.merge.json` (ours or XO's): the merge is resumed from its currentBlock, or
 *   finished when the parent already took the child's identity;
 * - the disks themselves: a backup whose VHD is missing while another VHD of its directory carries
 *   exactly that VHD's uuid (the snapshot VDI uuid XO and xcp-backup put in the footer) is a merge
 *   whose final rename was cut (SMB's rename deletes the target first; XO removes the child before
 *   renaming). The parent is renamed into place.
 */

export interface ResumeContext {
  backend: RemoteBackend
  lock: Lock
  result: CleanVmResult
  stateIntervalMs?: number
  blocksPerCheckpoint?: number
  /** Called after a merge changed the disk at `target`, so the metadata using it is rewritten. */
  afterMerge: (target: string, report: MergeReport) => Promise<void>
  /** Disks to keep whatever the rest of clean-vm decides. */
  protectedPaths: Set<string>
  /**
   * Also copy blocks (clean-vm's `merge`). Without it only merges whose blocks are all in place are
   * finished (a rename): leaving those would make their backup look incomplete and get it deleted.
   */
  mergeBlocks: boolean
}

export async function resumeInterruptedMerges(context: ResumeContext, directory: VdiDirectory): Promise<void> {
  for (const statePath of directory.mergeStates) {
    const parent = mergeStateParent(directory.dir, remoteBasename(statePath))!
    if (!directory.vhds.has(parent)) {
      if (directory.invalid.has(parent)) {
        // Not a VHD any more: only the tool that left it knows how to finish (XO writes blocks over the footer).
        context.protectedPaths.add(parent)
        for (const child of childrenNaming(directory, parent)) context.protectedPaths.add(child)
        context.result.warnings.push({
          code: 'MERGE_NOT_RESUMABLE',
          message: `the merge into ${parent} was interrupted and left it unreadable (${directory.invalid.get(parent)!.reason}); it and its children are kept. If Xen Orchestra started this merge, let its clean-up finish it.`,
          paths: [parent, statePath],
        })
      }
      continue // a state without its parent is stale: removed at the end
    }
    const read = await readMergeState(context.backend, parent)
    if (read.status !== 'ok') {
      if (read.status === 'invalid') {
        context.result.warnings.push({
          code: 'INVALID_MERGE_STATE',
          message: `the merge state ${statePath} cannot be read (${read.reason}); if the merge is still needed it starts again from its first block, which is safe`,
          paths: [statePath],
        })
      }
      continue
    }
    const state = read.state
    const chain = resolveChain(directory, parent, state.chain, state.child.uuid)
    if (chain === undefined || chain.length < 2) continue
    const target = chain[chain.length - 1]!
    const parentNode = directory.vhds.get(parent)!
    const complete = parentNode.uuid === state.child.uuid && !parentNode.interruptedFinalStep
    const started = performance.now()
    try {
      const targetNode = directory.vhds.get(target)
      if (complete && targetNode !== undefined && targetNode.uuid !== state.child.uuid) {
        context.protectedPaths.add(parent)
        context.result.warnings.push({
          code: 'MERGE_NOT_RESUMABLE',
          message: `${parent} holds the merged disk ${state.child.uuid}, but ${target}, where it should go, now holds ${targetNode.uuid}; both are kept. Check which backups use them.`,
          paths: [parent, target, statePath],
        })
      } else if (complete) {
        // Every block is in the parent and it has the child's identity: only the rename is left.
        await finishRename(context, directory, parent, target, chain, started)
      } else if (!context.mergeBlocks) {
        // Blocks still to copy: left for a clean-up with merge; the parent stays, used by its child.
      } else if (chain.length === 2 && directory.vhds.has(target)) {
        const outcome = await mergeDisk(context.backend, parent, target, {
          lock: context.lock,
          resume: state,
          stateIntervalMs: context.stateIntervalMs,
          blocksPerCheckpoint: context.blocksPerCheckpoint,
        })
        const report = mergeReport(directory.dir, parent, target, outcome, outcome.resumed)
        if (outcome.stateIgnored !== undefined) {
          context.result.warnings.push({
            code: 'INVALID_MERGE_STATE',
            message: `the merge state ${statePath} was not used (${outcome.stateIgnored}); the merge started again from its first block`,
            paths: [statePath],
          })
        }
        context.result.merges.push(report)
        await context.afterMerge(target, report)
      } else if (chain.every((path) => directory.vhds.has(path))) {
        // An XO merge of several children at once: merge them one by one, oldest first. XO's blocks
        // already written are the chain's newest sectors, which the later steps write again on top.
        for (let i = 1; i < chain.length; i++) {
          const outcome = await mergeDisk(context.backend, chain[i - 1]!, chain[i]!, {
            lock: context.lock,
            stateIntervalMs: context.stateIntervalMs,
            blocksPerCheckpoint: context.blocksPerCheckpoint,
          })
          const report = mergeReport(directory.dir, chain[i - 1]!, chain[i]!, outcome, true)
          context.result.merges.push(report)
          await context.afterMerge(chain[i]!, report)
        }
      }
      // Otherwise the child it was merging is gone and the parent never took over: the state is
      // stale. Planning decides about the parent like any other disk (a new merge restarts from 0).
    } catch (error) {
      context.protectedPaths.add(parent)
      context.result.warnings.push({
        code: 'MERGE_FAILED',
        message: `resuming the merge of ${chain.slice(1).join(', ')} into ${parent} failed: ${(error as Error).message}. The disks are left as they are; the next clean-up tries again.`,
        paths: [parent, ...chain.slice(1)],
      })
    }
  }
}

/**
 * The second source of truth: backups whose VHD is missing while a VHD of the same directory carries
 * the uuid of that disk's snapshot, and is used by no backup. That VHD is the merged parent; its
 * rename into place was interrupted.
 */
export async function adoptMergedParents(context: ResumeContext, metadata: readonly MetadataRead[]): Promise<void> {
  const referenced = new Set(
    metadata.flatMap((read) =>
      read.status === 'ok' ? read.requiredFiles : read.status === 'invalid' ? read.references : [],
    ),
  )
  const directories = new Map<string, VdiDirectory>()
  for (const read of metadata) {
    if (read.status !== 'ok' || read.metadata.mode !== 'delta') continue
    const { vhds, vdis } = read.metadata
    for (const [index, [ref]] of Object.entries(vhds).entries()) {
      const path = read.requiredFiles[index]!
      const dir = posix.dirname(path)
      let directory = directories.get(dir)
      if (directory === undefined) {
        directory = await readVdiDirectory(context.backend, dir)
        directories.set(dir, directory)
      }
      if (directory.vhds.has(path) || directory.invalid.has(path)) continue
      const uuid = vdis[ref]?.uuid
      if (uuid === undefined) continue
      const candidates = [...directory.vhds.values()].filter(
        (node) =>
          node.uuid.toLowerCase() === uuid.toLowerCase() && !node.interruptedFinalStep && !referenced.has(node.path),
      )
      if (candidates.length !== 1) continue
      const parent = candidates[0]!.path
      await finishRename(context, directory, parent, path, [parent, path], performance.now())
      directory.vhds.set(path, { ...directory.vhds.get(parent)!, path })
      directory.vhds.delete(parent)
    }
  }
}

async function finishRename(
  context: ResumeContext,
  directory: VdiDirectory,
  parent: string,
  target: string,
  chain: string[],
  started: number,
): Promise<void> {
  const { backend, lock } = context
  // The merged parent holds every block of the chain: the disks between it and the target are spare.
  for (const intermediate of chain.slice(1, -1)) {
    if (!directory.vhds.has(intermediate)) continue
    lock.assertHeld()
    await backend.remove(intermediate)
    context.result.removedFiles.push({ path: intermediate, reason: `merged into ${parent} by an interrupted merge` })
  }
  lock.assertHeld()
  await backend.rename(parent, target)
  await removeMergeState(backend, parent)
  const finalSize = (await backend.stat(target)).size
  const report: MergeReport = {
    dir: directory.dir,
    parent,
    child: target,
    resumed: true,
    fromBlock: 0,
    mergedBlocks: 0,
    mergedBytes: 0,
    totalBlocks: 0,
    finalSize,
    durationMs: performance.now() - started,
    metadataUpdated: [],
  }
  context.result.merges.push(report)
  await context.afterMerge(target, report)
}

export function mergeReport(
  dir: string,
  parent: string,
  child: string,
  outcome: Awaited<ReturnType<typeof mergeDisk>>,
  resumed: boolean,
): MergeReport {
  return {
    dir,
    parent,
    child,
    resumed,
    fromBlock: outcome.fromBlock,
    mergedBlocks: outcome.mergedBlocks,
    mergedBytes: outcome.mergedBytes,
    totalBlocks: outcome.totalBlocks,
    finalSize: outcome.finalSize,
    durationMs: outcome.durationMs,
    metadataUpdated: [],
  }
}

/** The state's chain as remote paths (XO: relative to the state file), or XO's older form's child. */
function resolveChain(
  directory: VdiDirectory,
  parent: string,
  chain: readonly string[],
  childUuid: string | undefined,
): string[] | undefined {
  if (chain.length > 0) {
    const resolved = chain.map((relative) => posix.normalize(posix.join(directory.dir, relative)))
    if (resolved.some((path) => posix.dirname(path) !== directory.dir)) return undefined
    return resolved[0] === parent ? resolved : undefined
  }
  const byUuid = [...directory.vhds.values()].find((node) => node.uuid === childUuid && node.path !== parent)
  const child = byUuid?.path ?? childrenNaming(directory, parent)[0]
  return child === undefined ? undefined : [parent, child]
}

function childrenNaming(directory: VdiDirectory, parent: string): string[] {
  return [...directory.vhds.values()].filter((node) => node.parentPath === parent).map((node) => node.path)
}
