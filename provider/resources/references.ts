import { isUuid } from '../policy/fields'
import { closest } from '../policy/suggest'
import type { PoolInventory, SrRecord, VmRecord } from '../pool/inventory'

/**
 * References to pool objects by uuid or name_label, as the policy writes them: an entry that looks like a
 * uuid is tried as one first, any other must match exactly one name. Problems say what was found and what
 * to write instead.
 */

export type Resolution<T> = { found: T } | { problem: string }

/** How messages name a pool: its configured name and its own name, `"main" (Demo pool)`. */
export function poolLabel(configuredName: string, inventory: PoolInventory): string {
  return configuredName === inventory.pool.name
    ? JSON.stringify(configuredName)
    : `${JSON.stringify(configuredName)} (${inventory.pool.name})`
}

export function resolveVm(
  inventory: PoolInventory,
  ref: string,
  where = JSON.stringify(inventory.pool.name),
): Resolution<VmRecord> {
  const candidates = [...inventory.vms.values()].filter((vm) => !vm.isSnapshot && !vm.isControlDomain && !vm.isTemplate)
  return resolve(
    ref,
    candidates,
    (vm) => vm.uuid,
    (vm) => vm.name,
    'VM',
    where,
  )
}

export function resolveSr(
  inventory: PoolInventory,
  ref: string,
  where = JSON.stringify(inventory.pool.name),
): Resolution<SrRecord> {
  const found = resolve(
    ref,
    [...inventory.srs.values()],
    (sr) => sr.uuid,
    (sr) => sr.name,
    'SR',
    where,
  )
  if ('found' in found && (found.found.contentType === 'iso' || found.found.type === 'iso')) {
    return { problem: `SR ${JSON.stringify(found.found.name)} is an ISO library: name an SR that holds VM disks` }
  }
  return found
}

function resolve<T>(
  ref: string,
  candidates: readonly T[],
  uuidOf: (item: T) => string,
  nameOf: (item: T) => string,
  what: string,
  where: string,
): Resolution<T> {
  const byUuid = isUuid(ref) ? candidates.filter((item) => uuidOf(item).toLowerCase() === ref.toLowerCase()) : []
  const matches = byUuid.length > 0 ? byUuid : candidates.filter((item) => nameOf(item) === ref)
  if (matches.length === 1) return { found: matches[0]! }
  if (matches.length > 1) {
    return {
      problem: `${matches.length} ${what}s of pool ${where} are named ${JSON.stringify(ref)} (${matches.map(uuidOf).join(', ')}): name one by uuid`,
    }
  }
  const suggestion = closest(ref, candidates.map(nameOf))
  return {
    problem:
      `no ${what} of pool ${where} has the ${isUuid(ref) ? 'uuid or name' : 'name'} ${JSON.stringify(ref)}` +
      (suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`),
  }
}
