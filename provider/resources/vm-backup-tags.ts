import { randomUUID } from 'node:crypto'
import type { Xapi } from 'xen-api'
import type { CheckFailure } from '../policy/issues'
import { decodeStoredSpec, encodeStoredSpec, type StoredSpec } from '../policy/stored-spec'
import { isUnknown } from '../policy/unknown'
import { checkPolicy, parsePolicy } from '../policy/validate'
import type { VmBackupTags } from '../policy/vm-backup-tags'
import { type PoolInventory, readInventory } from '../pool/inventory'
import { addVmTag, removeVmTag, vmRefByUuid, vmTags } from '../pool/vm-tags'
import { label, type ProviderContext } from './context'
import {
  type CheckOutcome,
  diffManaged,
  type KindProvider,
  managedFields,
  type PoolOutputs,
  poolForCheck,
  poolOutputs,
} from './kind-provider'
import type { PoolHandle } from './pools'
import { jsonClean, type Props, stringField } from './props'
import { poolLabel, resolveVm } from './references'
import { readStored, resourceId, storeIdOf, undo } from './stored-objects'

/**
 * VmBackupTags: tags that VMs hold while the resource exists. The stored spec is the resource's claim:
 * the VMs by uuid (resolved when applied) and the tags. A tag is only ever added or removed through a
 * claim, one tag at a time (`VM.add_tags`/`remove_tags`), so tags set by anything else are never touched,
 * and a tag another VmBackupTags resource also claims on that VM is left in place when this one lets go.
 *
 * Order of a change, so that a crash at any point never leaves a tag on a VM that no claim covers:
 * remove the tags no longer wanted (still claimed by the old spec), write the new spec, add the new tags
 * (now claimed). A failure undoes the tags changed so far and the spec, in reverse order.
 */

const KIND = 'VmBackupTags'
const FIELDS = managedFields(KIND)

export interface ResolvedVm {
  /** The entry of `vms` as written. */
  ref: string
  uuid: string
  name: string
}

export type VmBackupTagsOutputs = VmBackupTags & PoolOutputs & { resolvedVms: ResolvedVm[] }

type Claim = StoredSpec<'VmBackupTags'>

export const vmBackupTagsProvider: KindProvider = {
  async check(ctx, _olds, news): Promise<CheckOutcome> {
    const result = checkPolicy(KIND, news, { unknowns: 'skip' })
    const failures: CheckFailure[] = result.ok ? [] : [...result.failures]
    const pool = result.ok ? (result.value as Props).pool : news.pool
    const resolution =
      typeof pool === 'string' || pool === undefined || isUnknown(pool) ? await poolForCheck(ctx, pool) : undefined
    if (resolution?.state === 'failed') failures.push(resolution.failure)
    if (resolution?.state === 'connected') {
      // The VMs as written, checked even when other fields are invalid: one preview lists every problem.
      const inventory = await readInventory(resolution.pool.xapi)
      const where = poolLabel(resolution.pool.name, inventory)
      for (const [index, ref] of (Array.isArray(news.vms) ? news.vms : []).entries()) {
        if (typeof ref !== 'string' || isUnknown(ref)) continue
        const found = resolveVm(inventory, ref.trim(), where)
        if ('problem' in found) failures.push({ property: `vms[${index}]`, reason: found.problem })
      }
    }
    return { inputs: result.ok && failures.length === 0 ? jsonClean(result.value as Props) : news, failures }
  },

  diff(ctx, _id, olds, news) {
    // The VMs and tags are updated in place; only another pool makes it another resource.
    return diffManaged(ctx, olds, news, FIELDS, [])
  },

  async create(ctx, news) {
    const spec = parsePolicy(KIND, news)
    const pool = await ctx.sessions.get(ctx.sessions.nameFor(spec.pool))
    const resolved = resolveAll(await readInventory(pool.xapi), spec)
    const id = randomUUID()
    await converge(ctx, pool, id, undefined, claimOf(spec, resolved))
    return { id: resourceId(KIND, id), outs: await outputsOf(pool, id, spec.vms, resolved) }
  },

  async read(ctx, id, olds) {
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    const stored = await readStored(pool, KIND, storeId)
    if (stored.state === 'missing') return {}
    if (stored.state === 'unreadable') {
      ctx.warn(label(KIND, storeId), `${stored.reason}; pulumi up will write it again`)
      return { id, props: { ...poolOutputs(pool) } }
    }
    const previous = Array.isArray(olds.resolvedVms) ? (olds.resolvedVms as ResolvedVm[]) : []
    const refs = stored.spec.vms.map((uuid) => previous.find((vm) => vm.uuid === uuid)?.ref ?? uuid)
    const resolved = stored.spec.vms.map((uuid, index) => ({ ref: refs[index]!, uuid, name: '' }))
    return { id, props: await outputsOf(pool, storeId, refs, resolved) }
  },

  async update(ctx, id, olds, news) {
    const spec = parsePolicy(KIND, news)
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    const resolved = resolveAll(await readInventory(pool.xapi), spec)
    const stored = await readStored(pool, KIND, storeId)
    await converge(ctx, pool, storeId, stored.state === 'present' ? stored : undefined, claimOf(spec, resolved))
    return { outs: await outputsOf(pool, storeId, spec.vms, resolved) }
  },

  async delete(ctx, id, olds) {
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    const stored = await readStored(pool, KIND, storeId)
    if (stored.state === 'missing') return
    const previous = stored.state === 'present' ? stored : fromState(olds, stored.text)
    await converge(ctx, pool, storeId, previous, undefined)
  },
}

function resolveAll(inventory: PoolInventory, spec: VmBackupTags): ResolvedVm[] {
  return spec.vms.map((ref) => {
    const found = resolveVm(inventory, ref)
    if ('problem' in found) throw new Error(`${label(KIND, undefined)} vms: ${found.problem}`)
    return { ref, uuid: found.found.uuid, name: found.found.name }
  })
}

function claimOf(spec: VmBackupTags, resolved: readonly ResolvedVm[]): Claim {
  const vms = [...new Set(resolved.map((vm) => vm.uuid))].sort()
  return spec.pool === undefined ? { vms, tags: spec.tags } : { vms, tags: spec.tags, pool: spec.pool }
}

/** The claim an unreadable spec stood for, from the last state Pulumi recorded. */
function fromState(olds: Props, text: string): { spec: Claim; text: string } | undefined {
  const resolved = Array.isArray(olds.resolvedVms) ? (olds.resolvedVms as ResolvedVm[]) : []
  const tags = Array.isArray(olds.tags) ? (olds.tags as string[]) : []
  if (resolved.length === 0 || tags.length === 0) return undefined
  return { spec: { vms: resolved.map((vm) => vm.uuid), tags }, text }
}

/** `vm\0tag` pairs. */
function pairs(claim: Claim | undefined): Set<string> {
  return new Set(claim === undefined ? [] : claim.vms.flatMap((vm) => claim.tags.map((tag) => `${vm}\0${tag}`)))
}

async function otherClaims(ctx: ProviderContext, pool: PoolHandle, id: string): Promise<Set<string>> {
  const claimed = new Set<string>()
  for (const entry of await pool.store.list(KIND)) {
    if (entry.id === id) continue
    try {
      for (const pair of pairs(decodeStoredSpec(entry.value, { kind: KIND }).spec)) claimed.add(pair)
    } catch (error) {
      ctx.warn(
        label(KIND, entry.id),
        `stored claim is unreadable, its tags are not protected: ${(error as Error).message}`,
      )
    }
  }
  return claimed
}

interface TagChange {
  vm: string
  tag: string
  added: boolean
}

async function converge(
  ctx: ProviderContext,
  pool: PoolHandle,
  id: string,
  previous: { spec: Claim; text: string } | undefined,
  next: Claim | undefined,
): Promise<void> {
  const others = await otherClaims(ctx, pool, id)
  const before = pairs(previous?.spec)
  const after = pairs(next)
  const vms = new VmTagCache(pool.xapi)
  const done: TagChange[] = []
  let specTouched = false
  try {
    for (const pair of before) {
      if (after.has(pair) || others.has(pair)) continue
      const [uuid, tag] = pair.split('\0') as [string, string]
      const vm = await vms.find(uuid)
      if (vm === undefined || !(await vms.has(vm, tag))) continue
      await removeVmTag(pool.xapi, vm, tag)
      done.push({ vm, tag, added: false })
    }
    specTouched = true
    if (next === undefined) await pool.store.remove(KIND, id)
    else await pool.store.put(KIND, id, encodeStoredSpec(KIND, next))
    for (const pair of after) {
      const [uuid, tag] = pair.split('\0') as [string, string]
      const vm = await vms.find(uuid)
      if (vm === undefined) throw new Error(`VM ${uuid} disappeared while its tags were being set`)
      if (await vms.has(vm, tag)) continue
      await addVmTag(pool.xapi, vm, tag)
      done.push({ vm, tag, added: true })
    }
  } catch (error) {
    for (const change of done.reverse()) {
      await undo(
        () =>
          change.added ? removeVmTag(pool.xapi, change.vm, change.tag) : addVmTag(pool.xapi, change.vm, change.tag),
        error,
      )
    }
    if (specTouched) {
      const text = previous?.text
      await undo(() => (text === undefined ? pool.store.remove(KIND, id) : pool.store.put(KIND, id, text)), error)
    }
    throw error
  }
}

/** Each VM's tags read once per change. */
class VmTagCache {
  readonly #refs = new Map<string, string | undefined>()
  readonly #tags = new Map<string, Set<string>>()

  constructor(readonly xapi: Xapi) {}

  async find(uuid: string): Promise<string | undefined> {
    if (!this.#refs.has(uuid)) {
      try {
        this.#refs.set(uuid, await vmRefByUuid(this.xapi, uuid))
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'UUID_INVALID') throw error
        this.#refs.set(uuid, undefined)
      }
    }
    return this.#refs.get(uuid)
  }

  async has(vm: string, tag: string): Promise<boolean> {
    const tags = this.#tags.get(vm) ?? new Set(await vmTags(this.xapi, vm))
    this.#tags.set(vm, tags)
    return tags.has(tag)
  }
}

/**
 * The same shape after create, update and read: the VMs as written that still exist, and of the claimed
 * tags those every such VM carries now. A managed tag removed from one VM disappears from `tags`, which
 * is the drift the diff shows and `pulumi up` repairs.
 */
async function outputsOf(
  pool: PoolHandle,
  id: string,
  refs: readonly string[],
  resolved: readonly ResolvedVm[],
): Promise<Props> {
  const stored = await readStored(pool, KIND, id)
  if (stored.state !== 'present') throw new Error(`${label(KIND, id)} is not in pool ${pool.name} after being written`)
  const inventory = await readInventory(pool.xapi)
  const live = resolved.flatMap((vm, index) => {
    const record = inventory.vmByUuid(vm.uuid)
    return record === undefined || !stored.spec.vms.includes(vm.uuid)
      ? []
      : [{ ref: refs[index] ?? vm.ref, uuid: vm.uuid, name: record.name, tags: record.tags }]
  })
  const tags = stored.spec.tags.filter((tag) => live.length > 0 && live.every((vm) => vm.tags.includes(tag)))
  const poolArgument = stored.spec.pool
  const outputs: VmBackupTagsOutputs = {
    vms: live.map((vm) => vm.ref).sort(),
    tags,
    ...(poolArgument === undefined ? {} : { pool: poolArgument }),
    resolvedVms: live.map(({ ref, uuid, name }) => ({ ref, uuid, name })),
    ...poolOutputs(pool),
  }
  return jsonClean(outputs as unknown as Props)
}
