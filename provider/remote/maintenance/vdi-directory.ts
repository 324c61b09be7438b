import { posix } from 'node:path'
import { DiskFormatError } from '../../disk/errors'
import { VhdFile } from '../../disk/vhd/vhd-file'
import { isTemporaryName } from '../atomic-save'
import type { RemoteBackend } from '../backend'
import { isRemoteError } from '../errors'
import { joinRemotePath } from '../path'
import { listOrEmpty } from './vm-directory'

/**
 * One VDI directory (`vdis/<jobId>/<vdiUuid>/`) of a VM: the VHDs of that disk's delta chains with
 * the links their headers state, merge states and leftovers. Reading a VHD here means its footer,
 * header and BAT (what `VhdFile.open` validates), never its blocks.
 */

export interface VhdNode {
  path: string
  /** Footer uuid (the copy at offset 0). */
  uuid: string
  differencing: boolean
  /** The parent it names, as a remote path; undefined for a dynamic disk or a parent it cannot name. */
  parentPath: string | undefined
  /** Set when the parent it names is outside its directory or cannot be read from its header. */
  parentProblem: string | undefined
  /** The parent's uuid as this disk's header states it. */
  parentUuid: string | undefined
  fileSize: number
  virtualSize: number
  /**
   * The two footer copies differ the way a merge's final step leaves them when interrupted
   * (the trailing one already updated). Such a file is completed by resuming the merge.
   */
  interruptedFinalStep: boolean
}

export interface InvalidVhd {
  path: string
  /** Why it is not a usable VHD (a VhdError's message). */
  reason: string
}

export interface VdiDirectory {
  dir: string
  vhds: Map<string, VhdNode>
  invalid: Map<string, InvalidVhd>
  /** `.<parent>.merge.json` files. */
  mergeStates: string[]
  temporary: string[]
  /** XO's VHD-directory mode (`*.alias.vhd`, `data/`): not ours to change. */
  unsupported: string[]
  unknown: string[]
}

const MERGE_STATE = /^\.(.+)\.merge\.json$/

/** The parent VHD a `.<parent>.merge.json` file belongs to, or undefined if the name is not one. */
export function mergeStateParent(dir: string, name: string): string | undefined {
  const match = MERGE_STATE.exec(name)
  return match === null ? undefined : joinRemotePath(dir, match[1]!)
}

export async function readVdiDirectory(backend: RemoteBackend, dir: string): Promise<VdiDirectory> {
  const result: VdiDirectory = {
    dir,
    vhds: new Map(),
    invalid: new Map(),
    mergeStates: [],
    temporary: [],
    unsupported: [],
    unknown: [],
  }
  for (const entry of await listOrEmpty(backend, dir)) {
    const path = joinRemotePath(dir, entry.name)
    if (entry.kind === 'directory') {
      ;(entry.name === 'data' ? result.unsupported : result.unknown).push(path)
    } else if (entry.kind !== 'file') {
      result.unknown.push(path)
    } else if (isTemporaryName(entry.name)) {
      result.temporary.push(path)
    } else if (mergeStateParent(dir, entry.name) !== undefined) {
      result.mergeStates.push(path)
    } else if (entry.name.endsWith('.alias.vhd')) {
      result.unsupported.push(path)
    } else if (entry.name.endsWith('.vhd') && !entry.name.startsWith('.')) {
      const read = await readVhdNode(backend, dir, path)
      if (read === undefined) continue
      if ('reason' in read) result.invalid.set(path, read)
      else result.vhds.set(path, read)
    } else {
      result.unknown.push(path)
    }
  }
  return result
}

/**
 * Reads a VHD's metadata. A file that is positively not a valid VHD is returned as invalid; a file
 * that vanished meanwhile as undefined; any other failure (I/O, a lost connection) is thrown, so
 * that nothing is ever deleted because the remote failed to answer.
 */
export async function readVhdNode(
  backend: RemoteBackend,
  dir: string,
  path: string,
): Promise<VhdNode | InvalidVhd | undefined> {
  let file: Awaited<ReturnType<RemoteBackend['open']>>
  try {
    file = await backend.open(path, 'read')
  } catch (error) {
    if (isRemoteError(error, 'ENOENT')) return undefined
    throw error
  }
  try {
    let vhd: VhdFile
    let interruptedFinalStep = false
    try {
      vhd = await VhdFile.open(file, { name: path })
    } catch (error) {
      if (!(error instanceof DiskFormatError)) throw error
      if (error.code !== 'VHD_FOOTER_MISMATCH') return { path, reason: error.message }
      vhd = await VhdFile.open(file, { name: path, tolerateFooterMismatch: true })
      interruptedFinalStep = true
    }
    let parentPath: string | undefined
    let parentProblem: string | undefined
    if (vhd.isDifferencing) {
      const named = await vhd.parentPath().catch((error: unknown) => {
        if (error instanceof DiskFormatError) {
          parentProblem = `its parent locator cannot be read: ${error.message}`
          return undefined
        }
        throw error
      })
      if (named === undefined) parentProblem ??= 'it is a differencing disk that names no parent'
      else if (posix.isAbsolute(named))
        parentProblem = `its parent "${named}" is an absolute path, not one of its directory`
      else {
        const resolved = posix.normalize(posix.join(dir, named))
        if (posix.dirname(resolved) !== dir) parentProblem = `its parent "${named}" is not in its directory ${dir}`
        else parentPath = resolved
      }
    }
    return {
      path,
      uuid: vhd.uuid,
      differencing: vhd.isDifferencing,
      parentPath,
      parentProblem,
      parentUuid: vhd.isDifferencing ? vhd.header.parentUniqueId : undefined,
      fileSize: vhd.fileSize,
      virtualSize: vhd.virtualSize,
      interruptedFinalStep,
    }
  } catch (error) {
    if (error instanceof DiskFormatError) return { path, reason: error.message }
    throw error
  } finally {
    await file.close()
  }
}

/** How a differencing disk relates to the parent it names. */
export type LinkState =
  /** A dynamic disk: the root of its chain. */
  | 'root'
  /** The parent exists and its uuid is the one this disk's header expects. */
  | 'ok'
  /** The parent carries this disk's own uuid: it is this disk merged into it, waiting to take its name. */
  | 'merged'
  | 'missing-parent'
  | 'invalid-parent'
  | 'uuid-mismatch'
  | 'unnamed-parent'

/** The child → parent links of a VDI directory, and what follows from them. */
export class Lineage {
  private readonly childrenByParent = new Map<string, string[]>()
  private readonly brokenMemo = new Map<string, string | undefined>()

  constructor(readonly directory: VdiDirectory) {
    for (const node of directory.vhds.values()) {
      if (node.parentPath === undefined) continue
      const list = this.childrenByParent.get(node.parentPath) ?? []
      list.push(node.path)
      this.childrenByParent.set(node.parentPath, list)
    }
    for (const list of this.childrenByParent.values()) list.sort()
  }

  get dir(): string {
    return this.directory.dir
  }

  node(path: string): VhdNode | undefined {
    return this.directory.vhds.get(path)
  }

  /** Disks naming `path` as their parent (whatever the state of the link). */
  children(path: string): string[] {
    return this.childrenByParent.get(path) ?? []
  }

  /** Children whose link to `path` holds (`ok` or `merged`). */
  linkedChildren(path: string): string[] {
    return this.children(path).filter((child) => {
      const state = this.link(child)
      return state === 'ok' || state === 'merged'
    })
  }

  link(path: string): LinkState {
    const node = this.directory.vhds.get(path)
    if (node === undefined) return 'missing-parent'
    if (!node.differencing) return 'root'
    if (node.parentPath === undefined) return 'unnamed-parent'
    const parent = this.directory.vhds.get(node.parentPath)
    if (parent === undefined) return this.directory.invalid.has(node.parentPath) ? 'invalid-parent' : 'missing-parent'
    if (parent.uuid === node.parentUuid) return 'ok'
    if (parent.uuid === node.uuid) return 'merged'
    return 'uuid-mismatch'
  }

  /**
   * Why the disk at `path` cannot be read as a whole chain, or undefined when it can (a merge left
   * half-way is not a reason: resuming it completes the chain).
   */
  brokenReason(path: string, seen: Set<string> = new Set()): string | undefined {
    if (this.brokenMemo.has(path)) return this.brokenMemo.get(path)
    let reason: string | undefined
    const node = this.directory.vhds.get(path)
    if (node === undefined) {
      reason = this.directory.invalid.get(path)?.reason ?? `${path} is missing`
    } else if (seen.has(path)) {
      reason = `${path} is its own ancestor (a loop in the chain)`
    } else {
      seen.add(path)
      const state = this.link(path)
      // Only the parent of a merge is left with differing footers; without a child to merge it is damaged.
      if (node.interruptedFinalStep && this.linkedChildren(path).length === 0) {
        reason = `${path}: its two footer copies differ and no child of it is left to complete the merge that changed them`
      }
      switch (state) {
        case 'root':
          break
        case 'ok':
        case 'merged': {
          const parentReason = this.brokenReason(node.parentPath!, seen)
          if (parentReason !== undefined) reason ??= `its parent is broken: ${parentReason}`
          break
        }
        case 'unnamed-parent':
          reason = `${path}: ${node.parentProblem ?? 'it names no parent'}`
          break
        case 'missing-parent':
          reason = `${path}: its parent ${node.parentPath} is missing`
          break
        case 'invalid-parent':
          reason = `${path}: its parent is not a valid VHD: ${this.directory.invalid.get(node.parentPath!)!.reason}`
          break
        case 'uuid-mismatch':
          reason = `${path}: its parent ${node.parentPath} has uuid ${this.directory.vhds.get(node.parentPath!)!.uuid}, not the ${node.parentUuid} its header expects (the parent was replaced)`
          break
      }
    }
    this.brokenMemo.set(path, reason)
    return reason
  }

  /** The chain from `path` down to its root, `path` first (stops at a missing parent or a loop). */
  chain(path: string): string[] {
    const chain: string[] = []
    for (let current: string | undefined = path; current !== undefined && !chain.includes(current); ) {
      chain.push(current)
      current = this.directory.vhds.get(current)?.parentPath
    }
    return chain
  }

  /** Groups of VHD paths sharing one uuid (a merged parent and its child excepted). */
  duplicateUuids(): string[][] {
    const byUuid = new Map<string, string[]>()
    for (const node of this.directory.vhds.values()) {
      const list = byUuid.get(node.uuid) ?? []
      list.push(node.path)
      byUuid.set(node.uuid, list)
    }
    return [...byUuid.values()]
      .filter((paths) => paths.length > 1)
      .filter((paths) => !(paths.length === 2 && paths.some((p) => this.link(p) === 'merged')))
      .map((paths) => paths.sort())
  }
}
