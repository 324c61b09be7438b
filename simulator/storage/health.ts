/**
 * VDI chain health exactly as Xen Orchestra computes it, from VDI record facts only
 * (storage-semantics.md §4.7, xo-backup-engine.md §3.1). No dependency on the storage engine: the
 * backup runner and drift detection use these on records read from a real pool, the simulator's
 * tests on the records it publishes.
 *
 * - `assertHealthyVdiChain` is XO's backup guard (`@xen-orchestra/xapi` `_assertHealthyVdiChain`).
 * - `vdiChainsInfo` is XO's SR view "VDIs to coalesce" (`xo-server` `getVdiChainsInfo`).
 */

/** The VDI fields XO reads: `managed`, `sm_config['vhd-parent']`, `is_a_snapshot`, its SR. */
export interface VdiChainFacts {
  uuid: string
  sr: string
  managed: boolean
  /** `sm_config['vhd-parent']`, absent on roots. */
  vhdParent?: string | undefined
  isASnapshot?: boolean
}

/** xo-server's `maxUncoalescedVdis` default. */
export const DEFAULT_MAX_UNCOALESCED_VDIS = 1
/** xo-web warns about an SR listing at least this many VDIs to coalesce. */
export const VDIS_TO_COALESCE_LIMIT = 10

/** The message XO throws; a backup run reports it as "skipped", not failed. */
export const UNHEALTHY_VDI_CHAIN = 'unhealthy VDI chain'

export class UnhealthyVdiChainError extends Error {
  override readonly name = 'UnhealthyVdiChainError'
  constructor(
    /** The disk whose ancestry failed the check. */
    readonly vdi: string,
    /** The base copy at which the tolerance ran out. */
    readonly at: string,
  ) {
    super(UNHEALTHY_VDI_CHAIN)
  }
}

/** All VDIs a check may need, indexed once. */
export class VdiChainIndex {
  private readonly byUuid = new Map<string, VdiChainFacts>()
  private readonly children = new Map<string, VdiChainFacts[]>()

  constructor(vdis: Iterable<VdiChainFacts>) {
    for (const vdi of vdis) {
      this.byUuid.set(vdi.uuid, vdi)
      if (vdi.vhdParent !== undefined) {
        // XO groups the VDIs of the parent's SR by `vhd-parent`; a key made of both keeps SRs apart.
        const key = childKey(vdi.sr, vdi.vhdParent)
        const list = this.children.get(key)
        if (list === undefined) this.children.set(key, [vdi])
        else list.push(vdi)
      }
    }
  }

  get(uuid: string): VdiChainFacts | undefined {
    return this.byUuid.get(uuid)
  }

  /** VDIs of `sr` whose `vhd-parent` is `uuid`. */
  childrenOf(sr: string, uuid: string): readonly VdiChainFacts[] {
    return this.children.get(childKey(sr, uuid)) ?? []
  }
}

function childKey(sr: string, uuid: string): string {
  return `${sr}/${uuid}`
}

function asIndex(vdis: VdiChainIndex | Iterable<VdiChainFacts>): VdiChainIndex {
  return vdis instanceof VdiChainIndex ? vdis : new VdiChainIndex(vdis)
}

/**
 * Base copies along the disk's ancestry (itself included) whose only child is another base copy:
 * non-leaf coalesces the GC has not done yet. A base copy whose only child is the managed leaf
 * (a pending leaf coalesce) is not counted ("some SRs do not coalesce the leaf"). An ancestor that
 * cannot be found ends the walk, as XO skips VDIs it cannot fetch.
 */
export function uncoalescedAncestors(vdi: string, vdis: VdiChainIndex | Iterable<VdiChainFacts>): string[] {
  const index = asIndex(vdis)
  const found: string[] = []
  const seen = new Set<string>()
  for (let current = index.get(vdi); current !== undefined && !seen.has(current.uuid); ) {
    seen.add(current.uuid)
    if (!current.managed) {
      const children = index.childrenOf(current.sr, current.uuid)
      if (children.length === 1 && !children[0]!.managed) found.push(current.uuid)
    }
    current = current.vhdParent === undefined ? undefined : index.get(current.vhdParent)
  }
  return found
}

/**
 * XO's backup guard for one disk: throws `unhealthy VDI chain` when its ancestry holds more than
 * `tolerance` uncoalesced base copies (with the default 1: at the second one).
 */
export function assertHealthyVdiChain(
  vdi: string,
  vdis: VdiChainIndex | Iterable<VdiChainFacts>,
  tolerance: number = DEFAULT_MAX_UNCOALESCED_VDIS,
): void {
  const pending = uncoalescedAncestors(vdi, vdis)
  if (pending.length > tolerance) throw new UnhealthyVdiChainError(vdi, pending[tolerance]!)
}

/** The guard for every disk of a VM, each with a fresh tolerance (`VM_assertHealthyVdiChains`). */
export function assertHealthyVdiChains(
  disks: Iterable<string>,
  vdis: VdiChainIndex | Iterable<VdiChainFacts>,
  tolerance: number = DEFAULT_MAX_UNCOALESCED_VDIS,
): void {
  const index = asIndex(vdis)
  for (const disk of new Set(disks)) assertHealthyVdiChain(disk, index, tolerance)
}

export interface VdiChainsInfo {
  /** Managed non-snapshot VDIs with a non-zero count, the "Depth" column of "VDIs to coalesce". */
  unhealthyVdis: Record<string, number>
  /** VDIs whose ancestry names a `vhd-parent` that does not exist, with that uuid. */
  vdisWithUnknownVhdParent: Record<string, string>
  /** Distinct nodes with exactly one child met while walking. */
  nUnhealthyVdis: number
}

/**
 * XO's per-SR "VDIs to coalesce": for each managed non-snapshot VDI of the SR, the nodes with exactly
 * one child along its ancestry. Reproduces XO's arithmetic exactly, including that a VDI's count
 * shares one accumulator with every VDI of its tree computed earlier (XO caches one mutable object
 * per tree), so later VDIs of a tree can show counts that include other branches.
 *
 * `srVdis` are the SR's VDIs; `lookup` resolves any uuid in the pool (defaults to `srVdis`).
 */
export function vdiChainsInfo(
  srVdis: readonly VdiChainFacts[],
  lookup: (uuid: string) => VdiChainFacts | undefined = (() => {
    const byUuid = new Map(srVdis.map((v) => [v.uuid, v]))
    return (uuid: string) => byUuid.get(uuid)
  })(),
): VdiChainsInfo {
  const children = new Map<string, number>()
  for (const vdi of srVdis) {
    if (vdi.vhdParent !== undefined) children.set(vdi.vhdParent, (children.get(vdi.vhdParent) ?? 0) + 1)
  }
  interface Accumulator {
    length: number
    missingParent?: string
  }
  const cache = new Map<string, Accumulator>()
  const result: VdiChainsInfo = { unhealthyVdis: {}, vdisWithUnknownVhdParent: {}, nUnhealthyVdis: 0 }

  const accumulate = (uuid: string, trail: Set<string>): Accumulator => {
    const cached = cache.get(uuid)
    if (cached !== undefined) return cached
    const own = children.get(uuid) === 1 ? 1 : 0
    result.nUnhealthyVdis += own
    const vdi = lookup(uuid)
    let accumulator: Accumulator
    if (vdi === undefined) accumulator = { length: own, missingParent: uuid }
    else if (vdi.vhdParent !== undefined && !trail.has(vdi.vhdParent)) {
      trail.add(uuid)
      accumulator = accumulate(vdi.vhdParent, trail)
      accumulator.length += own
    } else accumulator = { length: own }
    cache.set(uuid, accumulator)
    return accumulator
  }

  for (const vdi of srVdis) {
    if (!vdi.managed || vdi.isASnapshot === true) continue
    const { length, missingParent } = accumulate(vdi.uuid, new Set())
    if (length !== 0) result.unhealthyVdis[vdi.uuid] = length
    if (missingParent !== undefined) result.vdisWithUnknownVhdParent[vdi.uuid] = missingParent
  }
  return result
}

/** xo-web's warning icon: the SR lists at least `VDIS_TO_COALESCE_LIMIT` VDIs to coalesce. */
export function needsCoalesceWarning(info: VdiChainsInfo): boolean {
  return Object.keys(info.unhealthyVdis).length >= VDIS_TO_COALESCE_LIMIT
}

/** The facts XO reads, from what the storage engine publishes (`VdiFacts`) or a XAPI record. */
export function chainFactsOf(vdi: {
  uuid: string
  sr: string
  managed: boolean
  smConfig?: Readonly<Record<string, string>>
  sm_config?: Readonly<Record<string, string>>
  isASnapshot?: boolean
}): VdiChainFacts {
  const smConfig = vdi.smConfig ?? vdi.sm_config ?? {}
  return {
    uuid: vdi.uuid,
    sr: vdi.sr,
    managed: vdi.managed,
    vhdParent: smConfig['vhd-parent'],
    ...(vdi.isASnapshot === undefined ? {} : { isASnapshot: vdi.isASnapshot }),
  }
}
