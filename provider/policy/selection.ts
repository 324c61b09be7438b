import { isNoBackupTag } from './backup-tags'
import { isUuid } from './fields'
import type { VmSelection } from './job-vms'

/** What selection needs to know about a VM, read from XAPI when the job runs. */
export interface VmFacts {
  uuid: string
  name_label: string
  power_state: string
  tags: readonly string[]
  poolUuid: string
  poolName: string
  is_a_template: boolean
  is_a_snapshot: boolean
  is_control_domain: boolean
  other_config: Readonly<Record<string, string>>
  blocked_operations: Readonly<Record<string, string>>
}

export type ExclusionCode =
  | 'control-domain'
  | 'template'
  | 'snapshot'
  | 'own-replica'
  | 'no-backup-tag'
  | 'other-pool'
  | 'power-state'
  | 'excluded-tag'
  | 'missing-tag'

export interface ExcludedVm {
  vm: VmFacts
  code: ExclusionCode
  reason: string
}

export interface UnresolvedVm {
  /** The entry of the explicit list, as written. */
  ref: string
  code: 'not-found' | 'ambiguous'
  reason: string
  /** The VMs an ambiguous name matches. */
  candidates: readonly VmFacts[]
}

export interface SelectionResult {
  /** VMs to back up: in list order (explicit) or in the order given (smart); each once. */
  selected: VmFacts[]
  /**
   * VMs left out, with why. Explicit: listed VMs that cannot be backed up. Smart: every candidate VM that
   * did not match (templates, snapshots and the control domain are not candidates and are not listed).
   */
  excluded: ExcludedVm[]
  /** Explicit entries that name no VM, or several. */
  unresolved: UnresolvedVm[]
}

/** XO's message when nothing is selected; the run is then reported skipped. */
export const NO_MATCHING_VMS = 'no VMs match this pattern'

/**
 * Which VMs a job backs up, from the VMs of the pools it can see. Pure: same facts, same answer.
 *
 * - Templates, snapshots and the control domain are never backed up.
 * - A VM tagged `xo:no-bak` or `xo:no-bak=<reason>` is never backed up, in explicit lists too (XO's docs
 *   promise this; XO's code only does it for smart selections).
 * - A replica made by this job (start blocked and `other_config['xo:backup:job'] === jobId`) is never
 *   backed up.
 * - Smart: a VM must be in one of `pools` (when given), in `powerState` (unless "any"), carry at least one
 *   of `tags` (when given) and none of `excludeTags`: exclusion wins over inclusion.
 * - Explicit: an entry that looks like a uuid matches that VM's uuid (or, failing that, a VM so named); any
 *   other entry must match exactly one name_label.
 */
export function selectVms(selection: VmSelection, vms: readonly VmFacts[], jobId: string): SelectionResult {
  return selection.select === 'explicit'
    ? selectExplicit(selection.list, vms, jobId)
    : selectSmart(selection, vms, jobId)
}

function selectExplicit(list: readonly string[], vms: readonly VmFacts[], jobId: string): SelectionResult {
  const result: SelectionResult = { selected: [], excluded: [], unresolved: [] }
  const seen = new Set<string>()
  for (const ref of list) {
    const byUuid = isUuid(ref) ? vms.filter((vm) => vm.uuid.toLowerCase() === ref.toLowerCase()) : []
    const matches = byUuid.length > 0 ? byUuid : vms.filter((vm) => vm.name_label === ref)
    if (matches.length !== 1) {
      result.unresolved.push(unresolved(ref, matches))
      continue
    }
    const vm = matches[0]!
    if (seen.has(vm.uuid)) continue
    seen.add(vm.uuid)
    const exclusion = alwaysExcluded(vm, jobId)
    if (exclusion === undefined) result.selected.push(vm)
    else result.excluded.push({ vm, ...exclusion })
  }
  return result
}

function unresolved(ref: string, matches: readonly VmFacts[]): UnresolvedVm {
  if (matches.length === 0) {
    return {
      ref,
      code: 'not-found',
      reason: `no VM has the ${isUuid(ref) ? 'uuid or name' : 'name'} ${JSON.stringify(ref)}`,
      candidates: [],
    }
  }
  return {
    ref,
    code: 'ambiguous',
    reason: `${matches.length} VMs are named ${JSON.stringify(ref)} (${matches.map((vm) => vm.uuid).join(', ')}): list one by uuid`,
    candidates: matches,
  }
}

function selectSmart(
  selection: Extract<VmSelection, { select: 'smart' }>,
  vms: readonly VmFacts[],
  jobId: string,
): SelectionResult {
  const result: SelectionResult = { selected: [], excluded: [], unresolved: [] }
  for (const vm of vms) {
    if (vm.is_control_domain || vm.is_a_template || vm.is_a_snapshot) continue
    const exclusion = alwaysExcluded(vm, jobId) ?? smartExclusion(selection, vm)
    if (exclusion === undefined) result.selected.push(vm)
    else result.excluded.push({ vm, ...exclusion })
  }
  return result
}

type Exclusion = Omit<ExcludedVm, 'vm'>

function alwaysExcluded(vm: VmFacts, jobId: string): Exclusion | undefined {
  if (vm.is_control_domain) return { code: 'control-domain', reason: 'the control domain (dom0) is never backed up' }
  if (vm.is_a_template) return { code: 'template', reason: 'templates are never backed up' }
  if (vm.is_a_snapshot) return { code: 'snapshot', reason: 'snapshots are never backed up (back up their VM)' }
  if (vm.blocked_operations.start !== undefined && vm.other_config['xo:backup:job'] === jobId) {
    return { code: 'own-replica', reason: 'replica created by this job (its start is blocked): never backed up by it' }
  }
  const noBackup = vm.tags.find(isNoBackupTag)
  if (noBackup !== undefined) {
    return { code: 'no-backup-tag', reason: `tagged ${JSON.stringify(noBackup)}: never backed up` }
  }
  return undefined
}

function smartExclusion(selection: Extract<VmSelection, { select: 'smart' }>, vm: VmFacts): Exclusion | undefined {
  if (selection.pools.length > 0 && !selection.pools.includes(vm.poolUuid) && !selection.pools.includes(vm.poolName)) {
    return { code: 'other-pool', reason: `in pool ${JSON.stringify(vm.poolName)}, not one of the job's pools` }
  }
  if (selection.powerState !== 'any' && vm.power_state !== selection.powerState) {
    return { code: 'power-state', reason: `${vm.power_state}, the job selects ${selection.powerState} VMs` }
  }
  const excludedTag = vm.tags.find((tag) => selection.excludeTags.includes(tag))
  if (excludedTag !== undefined) {
    return { code: 'excluded-tag', reason: `tagged ${JSON.stringify(excludedTag)}, which the job excludes` }
  }
  if (selection.tags.length > 0 && !vm.tags.some((tag) => selection.tags.includes(tag))) {
    return {
      code: 'missing-tag',
      reason: `has none of the tags ${selection.tags.map((tag) => JSON.stringify(tag)).join(', ')}`,
    }
  }
  return undefined
}
