import { z } from 'zod'
import type { RemoteBackend } from '../backend'
import { readSmallFile, saveSmallFile } from '../small-files'
import { describeIssues } from './metadata'
import { mergeStatePath } from './paths'

/**
 * The state of a VHD merge in progress, `.<parent basename>.merge.json` next to the parent
 * (docs/remote-format.md §7; XO's MergeRemoteDisk). XO writes it in place, so a reader may find it
 * half-written: such a state reads as "none" and the merge restarts from block 0, which is safe.
 */
export const mergeStateSchema = z.looseObject({
  child: z.looseObject({ uuid: z.string().optional() }),
  parent: z.looseObject({ uuid: z.string().optional() }),
  /** VHD paths relative to the state file, parent first, then the child chain. */
  chain: z.array(z.string()),
  /** XO may store null (a NaN serialised); it means block 0. */
  currentBlock: z.number().int().nullable(),
  mergedDataSize: z.number().nonnegative(),
  step: z.enum(['mergeBlocks', 'cleanup']).optional(),
  diskSize: z.number().nonnegative().optional(),
})
export type MergeState = z.infer<typeof mergeStateSchema>

export type MergeStateRead =
  | { status: 'none' }
  | { status: 'ok'; state: MergeState }
  | { status: 'invalid'; reason: string }

export async function readMergeState(backend: RemoteBackend, parentVhdPath: string): Promise<MergeStateRead> {
  let text: string
  try {
    text = (await readSmallFile(backend, mergeStatePath(parentVhdPath), 1024 * 1024)).toString('utf8')
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return { status: 'none' }
    throw error
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    return { status: 'invalid', reason: `not JSON (${(error as Error).message})` }
  }
  const result = mergeStateSchema.safeParse(raw)
  return result.success
    ? { status: 'ok', state: result.data }
    : { status: 'invalid', reason: describeIssues(result.error) }
}

/** Written atomically by us (XO reads either the old or the new state, never a torn one). */
export async function writeMergeState(backend: RemoteBackend, parentVhdPath: string, state: MergeState): Promise<void> {
  await saveSmallFile(backend, mergeStatePath(parentVhdPath), JSON.stringify(mergeStateSchema.parse(state)))
}

export async function removeMergeState(backend: RemoteBackend, parentVhdPath: string): Promise<void> {
  await backend.remove(mergeStatePath(parentVhdPath)).catch((error: unknown) => {
    if ((error as { code?: string }).code !== 'ENOENT') throw error
  })
}
