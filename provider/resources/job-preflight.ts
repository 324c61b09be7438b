import { explainCode } from '../explain/catalog'
import type { BackupJob } from '../policy/backup-job'
import type { CheckFailure } from '../policy/issues'
import type { Schedule } from '../policy/job-schedule'
import { overlapWarning } from '../policy/schedule'
import { type ExclusionCode, NO_MATCHING_VMS, selectVms, type VmFacts } from '../policy/selection'
import { closest } from '../policy/suggest'
import { containsUnknown, isUnknown, type Unknowable } from '../policy/unknown'
import { isThick, type PoolInventory } from '../pool/inventory'
import { resolveSr } from './references'

/**
 * What `pulumi preview` can tell about a BackupJob before it ever runs: references to VMs and SRs that do
 * not exist (errors, naming the field), and failures the runner would meet (warnings): nothing to back up,
 * a thick SR too full to snapshot the job's VMs, VHD chains near the 30 limit, runs closer together than a
 * run lasts. Pure: reads the pools' inventories and the job's last run, writes nothing.
 */

/** XenServer refuses to snapshot a disk whose VHD chain holds 30 elements (SM's MAX_CHAIN_SIZE). */
export const CHAIN_LIMIT = 30
/** Warn from this length: a few more snapshots without a coalesce reach the limit. */
export const CHAIN_WARNING = 25

export interface JobPreflightInput {
  job: Unknowable<BackupJob>
  /** The arguments as written, to name list entries by the index the user sees. */
  written: Record<string, unknown>
  jobId: string | undefined
  /** The pool that stores the job. */
  pool: PoolInventory
  /** How messages name that pool. */
  poolLabel: string
  /** The other configured pools that could be reached. */
  otherPools: readonly PoolInventory[]
  /** How long the job's last run took, from the runner's status record. */
  lastRunMs: number | undefined
  now?: Date
}

export interface JobPreflight {
  failures: CheckFailure[]
  warnings: string[]
  /** The VMs the selection matches now (undefined when it cannot be known yet). */
  selected: VmFacts[] | undefined
}

type KnownJob = Exclude<Unknowable<BackupJob>, string>

export function jobPreflight(input: JobPreflightInput): JobPreflight {
  const result: JobPreflight = { failures: [], warnings: [], selected: undefined }
  if (isUnknown(input.job)) return result
  const job = input.job as KnownJob
  result.failures.push(...jobReferenceFailures(input.written, input.pool, input.poolLabel))
  result.selected = selection(job, input, result)
  if (result.selected !== undefined) {
    const inventories = [input.pool, ...input.otherPools]
    spaceForSnapshots(result.selected, inventories, result)
    chains(result.selected, inventories, result)
  }
  scheduleOverlap(job, input.lastRunMs, input.now, result)
  return result
}

function selection(job: KnownJob, input: JobPreflightInput, result: JobPreflight): VmFacts[] | undefined {
  const vms = job.vms
  if (isUnknown(vms) || isUnknown(vms.select)) return undefined
  const jobId = input.jobId ?? ''
  if (vms.select === 'explicit') {
    if (isUnknown(vms.list)) return undefined
    const known = vms.list.filter((ref): ref is string => !isUnknown(ref))
    // Entries naming no VM are failures (jobReferenceFailures); listed VMs that are never backed up are warnings.
    const found = selectVms({ select: 'explicit', list: known }, input.pool.vmFacts(), jobId)
    for (const { vm, reason } of found.excluded) {
      result.warnings.push(`VM ${JSON.stringify(vm.name_label)} is listed but will not be backed up: ${reason}`)
    }
    return known.length === vms.list.length ? found.selected : undefined
  }
  if (containsUnknown(vms)) return undefined
  const smart = vms as Extract<BackupJob['vms'], { select: 'smart' }>
  const inventories = [input.pool, ...input.otherPools]
  const writtenPools = writtenList(input.written, 'pools')
  const candidates: VmFacts[] = []
  if (smart.pools.length === 0) candidates.push(...input.pool.vmFacts())
  for (const [index, ref] of smart.pools.entries()) {
    const inventory = inventories.find((i) => i.pool.uuid === ref || i.pool.name === ref)
    if (inventory === undefined) {
      result.failures.push({
        property: `vms.pools[${indexOf(writtenPools, smart.pools, ref, index)}]`,
        reason: `no configured pool has the uuid or name ${JSON.stringify(ref)} (reachable: ${inventories.map((i) => JSON.stringify(i.pool.name)).join(', ')})`,
      })
    } else if (!candidates.some((vm) => vm.poolUuid === inventory.pool.uuid)) {
      candidates.push(...inventory.vmFacts())
    }
  }
  const found = selectVms(smart, candidates, jobId)
  if (found.selected.length === 0) result.warnings.push(noMatchWarning(found.excluded.map((e) => e.code)))
  return found.selected
}

function noMatchWarning(codes: readonly ExclusionCode[]): string {
  const counts = new Map<ExclusionCode, number>()
  for (const code of codes) counts.set(code, (counts.get(code) ?? 0) + 1)
  const why: Record<ExclusionCode, string> = {
    'missing-tag': 'lack the tags',
    'excluded-tag': 'carry an excluded tag',
    'power-state': 'are in another power state',
    'other-pool': 'are in another pool',
    'no-backup-tag': 'are tagged xo:no-bak',
    'own-replica': 'are replicas made by this job',
    'control-domain': 'are control domains',
    template: 'are templates',
    snapshot: 'are snapshots',
  }
  const reasons = [...counts].map(([code, n]) => `${n} ${why[code]}`)
  const explanation = explainCode('NO_VMS_MATCH')
  return (
    `no VM matches the selection now (${codes.length} VMs considered${reasons.length > 0 ? `: ${reasons.join(', ')}` : ''}): ` +
    `each run would be skipped with "${NO_MATCHING_VMS}" (${explanation?.code}: ${explanation?.title}). ` +
    'Check the tags and power state, or tag the VMs with a VmBackupTags resource.'
  )
}

/**
 * References to pool objects that do not exist, from the arguments as written: they are checked even when
 * other fields are invalid, so one preview names every problem. An explicit VM list entry must name
 * exactly one VM; the health check's SR must exist.
 */
export function jobReferenceFailures(
  written: Record<string, unknown>,
  pool: PoolInventory,
  where: string,
): CheckFailure[] {
  const failures: CheckFailure[] = []
  const vms = objectField(written, 'vms')
  const list = vms === undefined ? undefined : vms.list
  if (vms?.select === 'explicit' && Array.isArray(list)) {
    const refs = list.map((entry) => (typeof entry === 'string' && !isUnknown(entry) ? entry.trim() : undefined))
    const known = refs.filter((ref): ref is string => ref !== undefined && ref !== '')
    const found = selectVms({ select: 'explicit', list: known }, pool.vmFacts(), '')
    const names = [...pool.vms.values()].filter((vm) => !vm.isSnapshot && !vm.isTemplate).map((vm) => vm.name)
    for (const unresolved of found.unresolved) {
      const suggestion = unresolved.code === 'not-found' ? closest(unresolved.ref, names) : undefined
      failures.push({
        property: `vms.list[${refs.indexOf(unresolved.ref)}]`,
        reason: `${unresolved.reason} in pool ${where}${suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`}`,
      })
    }
  }
  const sr = objectField(objectField(written, 'settings'), 'healthCheck')?.sr
  if (typeof sr === 'string' && !isUnknown(sr) && sr.trim() !== '') {
    const found = resolveSr(pool, sr.trim(), where)
    if ('problem' in found) failures.push({ property: 'settings.healthCheck.sr', reason: found.problem })
  }
  return failures
}

function objectField(value: unknown, key?: string): Record<string, unknown> | undefined {
  const object =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  if (key === undefined) return object
  const field = object?.[key]
  return field !== null && typeof field === 'object' && !Array.isArray(field)
    ? (field as Record<string, unknown>)
    : undefined
}

/** Disks of the selected VMs, with their pool; disks named [NOBAK] are left out of snapshots. */
function selectedDisks(selected: readonly VmFacts[], inventories: readonly PoolInventory[]) {
  return selected.flatMap((facts) => {
    const inventory = inventories.find((i) => i.pool.uuid === facts.poolUuid)
    const vm = inventory?.vmByUuid(facts.uuid)
    if (inventory === undefined || vm === undefined) return []
    return inventory
      .disksOf(vm.ref)
      .filter((vdi) => !vdi.name.includes('[NOBAK]'))
      .map((vdi) => ({ inventory, vm: facts, vdi }))
  })
}

/**
 * SR_BACKEND_FAILURE_44, predicted: on a thick (LVM) SR a snapshot reserves a new leaf the size of the
 * whole disk, so snapshotting the job's disks there needs their full size free. XO's documentation puts it
 * as "an SR more than half full cannot snapshot all its VMs"; this is the same rule with the actual sizes.
 */
function spaceForSnapshots(selected: readonly VmFacts[], inventories: readonly PoolInventory[], result: JobPreflight) {
  const bySr = new Map<string, { inventory: PoolInventory; srRef: string; need: number; vms: Map<string, number> }>()
  for (const { inventory, vm, vdi } of selectedDisks(selected, inventories)) {
    const key = `${inventory.pool.uuid}/${vdi.sr}`
    const entry = bySr.get(key) ?? { inventory, srRef: vdi.sr, need: 0, vms: new Map<string, number>() }
    bySr.set(key, entry)
    entry.need += vdi.virtualSize
    entry.vms.set(vm.name_label, (entry.vms.get(vm.name_label) ?? 0) + vdi.virtualSize)
  }
  const explanation = explainCode('SR_BACKEND_FAILURE_44')
  for (const { inventory, srRef, need, vms } of bySr.values()) {
    const sr = inventory.srs.get(srRef)
    if (sr === undefined || !isThick(sr) || sr.size <= 0) continue
    const free = sr.size - sr.used
    if (need <= free) continue
    const percent = Math.round((sr.used / sr.size) * 100)
    const perVm = [...vms].map(([name, bytes]) => `${name}: ${formatBytes(bytes)}`).join(', ')
    result.warnings.push(
      `SR ${JSON.stringify(sr.name)} is thick-provisioned (${sr.type}), so a snapshot reserves the full size of each disk; ` +
        `it is ${percent}% full (${formatBytes(sr.used)} of ${formatBytes(sr.size)} used, ${formatBytes(free)} free) and ` +
        `snapshotting the disks this job selects there needs ${formatBytes(need)} (${perVm}): snapshots will fail with ` +
        `${explanation?.code} (${explanation?.title}). Keep thick SRs under 50% used, free space, move disks to a thin SR, ` +
        'or back up fewer of its VMs at once.',
    )
  }
}

function chains(selected: readonly VmFacts[], inventories: readonly PoolInventory[], result: JobPreflight) {
  const explanation = explainCode('SR_BACKEND_FAILURE_109')
  const seen = new Set<string>()
  for (const { inventory, vm, vdi } of selectedDisks(selected, inventories)) {
    if (seen.has(vdi.uuid)) continue
    seen.add(vdi.uuid)
    const length = inventory.chainLength(vdi)
    if (length < CHAIN_WARNING) continue
    const left = Math.max(0, CHAIN_LIMIT - length)
    result.warnings.push(
      `VM ${JSON.stringify(vm.name_label)} disk ${JSON.stringify(vdi.name)} has a VHD chain of ${length}; XenServer refuses ` +
        `snapshots from ${CHAIN_LIMIT} (${explanation?.code}: ${explanation?.title}), ` +
        (left === 0
          ? 'so its next backup will fail'
          : `so ${left} more snapshot${left === 1 ? '' : 's'} without a coalesce and its backups fail`) +
        '. Check that the host coalesces (grep -i coalesce /var/log/SMlog) and that old snapshots are deleted.',
    )
  }
}

function scheduleOverlap(job: KnownJob, lastRunMs: number | undefined, now: Date | undefined, result: JobPreflight) {
  if (lastRunMs === undefined || lastRunMs <= 0 || isUnknown(job.schedules) || containsUnknown(job.schedules)) return
  const warning = overlapWarning(job.schedules as Schedule[], lastRunMs, now)
  if (warning !== undefined) result.warnings.push(`${warning} (JOB_ALREADY_RUNNING)`)
}

/** The list as written in the arguments (`vms.pools`), to report the index users wrote. */
function writtenList(written: Record<string, unknown>, key: string): unknown[] | undefined {
  const list = objectField(written, 'vms')?.[key]
  return Array.isArray(list) ? list : undefined
}

function indexOf(
  written: unknown[] | undefined,
  canonical: readonly unknown[],
  ref: string,
  fallback?: number,
): number {
  const index = written?.findIndex((entry) => typeof entry === 'string' && entry.trim() === ref) ?? -1
  return index >= 0 ? index : (fallback ?? canonical.indexOf(ref))
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  const rounded = Math.round(value * 10) / 10
  return `${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)} ${units[unit]}`
}
