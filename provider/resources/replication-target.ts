import { findOrphanedCrSnapshots, type OrphanedSnapshot, replicaFacts, snapshotFacts } from '../drift'
import type { ReplicationTarget } from '../policy/replication-target'
import { encodeStoredSpec } from '../policy/stored-spec'
import { checkPolicy, parsePolicy } from '../policy/validate'
import { type PoolInventory, readInventory, type SrRecord } from '../pool/inventory'
import { destroySnapshot } from '../pool/snapshots'
import { idForName } from '../pool/store-ids'
import { label, type ProviderContext } from './context'
import { checkNewName } from './identity'
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
import { poolLabel, resolveSr } from './references'
import { readStored, resourceId, storeIdOf, storeNew, storeReplace } from './stored-objects'

/**
 * ReplicationTarget: a stored spec naming an SR, stored in the pool that holds the SR. Its outputs describe
 * the SR and the continuous-replication snapshots on source VMs that are orphaned (provider/drift).
 *
 * Orphans pointing at this target's SR are drift: the desired state is "none", so check puts
 * `orphanedSnapshots: []` into the inputs, read reports the live list, and the diff shows each orphan.
 * `pulumi up` destroys exactly the orphans that diff showed (those in the old state that are still
 * orphaned), snapshots only, never a VM, and says so. Orphans of SRs that exist in no configured pool are
 * reported by every target (`orphansOfMissingSrs`, and a warning) but never destroyed: nothing proves the
 * SR is gone rather than in a pool this stack does not know.
 */

const KIND = 'ReplicationTarget'
const ORPHANS = 'orphanedSnapshots'
const FIELDS = [...managedFields(KIND), ORPHANS]

export interface OrphanOutput {
  uuid: string
  name: string
  vm: string
  vmUuid: string
  srUuid: string
  reason: OrphanedSnapshot['reason']
}

export type ReplicationTargetOutputs = ReplicationTarget &
  PoolOutputs & {
    srUuid?: string
    srName?: string
    /** The SR's type (ext, nfs, lvm, lvmoiscsi, ...). */
    srType?: string
    srSize?: number
    srFreeSpace?: number
    orphanedSnapshots: OrphanOutput[]
    orphansOfMissingSrs: OrphanOutput[]
  }

/** The policy fields of the inputs (check adds the desired orphan list next to them). */
function specOf(props: Props): Props {
  const { [ORPHANS]: _desired, ...spec } = props
  return spec
}

export const replicationTargetProvider: KindProvider = {
  async check(ctx, olds, news): Promise<CheckOutcome> {
    const result = checkPolicy(KIND, specOf(news), { unknowns: 'skip' })
    if (!result.ok) {
      // Still say whether the SR exists, so one preview lists every problem.
      const resolution =
        typeof news.pool === 'string' || news.pool === undefined ? await poolForCheck(ctx, news.pool) : undefined
      const sr = typeof news.sr === 'string' ? news.sr.trim() : ''
      if (resolution?.state !== 'connected' || sr === '') return { inputs: news, failures: result.failures }
      const inventory = await readInventory(resolution.pool.xapi)
      const found = resolveSr(inventory, sr, poolLabel(resolution.pool.name, inventory))
      return {
        inputs: news,
        failures: [...result.failures, ...('problem' in found ? [{ property: 'sr', reason: found.problem }] : [])],
      }
    }
    const spec = result.value as Props
    const inputs = jsonClean({ ...spec, [ORPHANS]: [] })
    const resolution = await poolForCheck(ctx, spec.pool)
    if (resolution.state === 'failed') return { inputs: news, failures: [resolution.failure] }
    if (resolution.state === 'unknown') return { inputs, failures: [] }
    const pool = resolution.pool
    const failures = await checkNewName(pool, KIND, specOf(olds), spec)
    const sr = stringField(spec, 'sr')
    if (sr !== undefined) {
      const inventory = await readInventory(pool.xapi)
      const found = resolveSr(inventory, sr, poolLabel(pool.name, inventory))
      if ('problem' in found) failures.push({ property: 'sr', reason: found.problem })
      else {
        const { mine, missing } = await orphans(ctx, pool, inventory, found.found)
        const who = label(KIND, stringField(spec, 'name'))
        if (mine.length > 0) {
          ctx.warn(
            who,
            `${mine.length} orphaned replication snapshot(s) point at SR ${JSON.stringify(found.found.name)}: ` +
              `${mine.map((o) => o.message).join('; ')}. pulumi up --refresh destroys them (the snapshots only).`,
          )
        }
        for (const orphan of missing)
          ctx.warn(who, `${orphan.message}; not destroyed automatically: delete it by hand if that SR is really gone`)
      }
    }
    return { inputs, failures }
  },

  diff(ctx, _id, olds, news) {
    return diffManaged(ctx, olds, news, FIELDS, ['name'])
  },

  async create(ctx, news) {
    const spec = parsePolicy(KIND, specOf(news))
    const pool = await ctx.sessions.get(ctx.sessions.nameFor(spec.pool))
    const id = idForName(KIND, spec.name)
    await storeNew(pool, KIND, id, encodeStoredSpec(KIND, spec), label(KIND, spec.name))
    return { id: resourceId(KIND, id), outs: await outputsOf(ctx, pool, spec) }
  },

  async read(ctx, id, olds) {
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const stored = await readStored(pool, KIND, storeIdOf(id))
    if (stored.state === 'missing') return {}
    if (stored.state === 'unreadable') {
      ctx.warn(label(KIND, stringField(olds, 'name')), `${stored.reason}; pulumi up will write it again`)
      return { id, props: { ...poolOutputs(pool) } }
    }
    return { id, props: await outputsOf(ctx, pool, stored.spec) }
  },

  async update(ctx, id, olds, news) {
    const spec = parsePolicy(KIND, specOf(news))
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    const stored = await readStored(pool, KIND, storeId)
    const text = encodeStoredSpec(KIND, spec)
    if (stored.state !== 'present' || stored.text !== text) {
      await storeReplace(pool, KIND, storeId, text, stored.state === 'missing' ? undefined : stored.text)
    }
    await repairOrphans(ctx, pool, spec, olds)
    return { outs: await outputsOf(ctx, pool, spec) }
  },

  async delete(ctx, id, olds) {
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    // Replicas and snapshots stay: they are backups.
    await pool.store.remove(KIND, storeIdOf(id))
  },
}

/** Destroys the orphans the old state listed (what the preview showed) that are still orphaned now. */
async function repairOrphans(ctx: ProviderContext, pool: PoolHandle, spec: ReplicationTarget, olds: Props) {
  const shown = new Set((Array.isArray(olds[ORPHANS]) ? (olds[ORPHANS] as OrphanOutput[]) : []).map((o) => o.uuid))
  if (shown.size === 0) return
  const inventory = await readInventory(pool.xapi)
  const found = resolveSr(inventory, spec.sr)
  if ('problem' in found) throw new Error(`${label(KIND, spec.name)}: ${found.problem}`)
  const { mine } = await orphans(ctx, pool, inventory, found.found)
  const who = label(KIND, spec.name)
  for (const orphan of mine) {
    if (!shown.has(orphan.uuid)) continue
    const handle = await poolHolding(ctx, pool, orphan.uuid)
    const { leftDisks } = await destroySnapshot(handle.xapi, orphan.uuid)
    ctx.info(who, `destroyed ${orphan.message}`)
    for (const disk of leftDisks) {
      ctx.warn(
        who,
        `disk ${disk.uuid} of that snapshot could not be destroyed (${disk.reason}): it is left as an orphan VDI`,
      )
    }
  }
}

/** The configured pool whose database holds a VM (the source VM of an orphan may be in another pool). */
async function poolHolding(ctx: ProviderContext, pool: PoolHandle, vmUuid: string): Promise<PoolHandle> {
  for (const name of [pool.name, ...ctx.sessions.config.pools.keys()]) {
    const handle = await ctx.sessions.get(name)
    try {
      await handle.xapi.call('VM.get_by_uuid', vmUuid)
      return handle
    } catch {
      // not in this pool
    }
  }
  throw new Error(`snapshot ${vmUuid} is in none of the configured pools any more`)
}

/**
 * The orphans that concern this target, over every configured pool that can be reached: source VMs may be
 * in any of them. Pools that cannot be read are skipped with a warning (their SRs then look missing, which
 * is only ever reported, never repaired).
 */
async function orphans(ctx: ProviderContext, pool: PoolHandle, inventory: PoolInventory, sr: SrRecord) {
  const inventories = [inventory]
  for (const name of ctx.sessions.config.pools.keys()) {
    if (name === pool.name) continue
    try {
      inventories.push(await readInventory((await ctx.sessions.get(name)).xapi))
    } catch (error) {
      ctx.warn(`pool ${JSON.stringify(name)}`, `could not be read for orphaned snapshots: ${(error as Error).message}`)
    }
  }
  const all = findOrphanedCrSnapshots(inventories.flatMap(snapshotFacts), replicaFacts(inventories))
  return {
    mine: all.filter((orphan) => orphan.srUuid === sr.uuid.toLowerCase()),
    missing: all.filter((orphan) => orphan.reason === 'sr-missing'),
  }
}

function toOutput(orphan: OrphanedSnapshot): OrphanOutput {
  return {
    uuid: orphan.uuid,
    name: orphan.name,
    vm: orphan.vmName,
    vmUuid: orphan.vmUuid,
    srUuid: orphan.srUuid,
    reason: orphan.reason,
  }
}

async function outputsOf(ctx: ProviderContext, pool: PoolHandle, spec: ReplicationTarget): Promise<Props> {
  const inventory = await readInventory(pool.xapi)
  const found = resolveSr(inventory, spec.sr)
  let sr: Partial<ReplicationTargetOutputs> = {}
  let mine: OrphanedSnapshot[] = []
  let missing: OrphanedSnapshot[] = []
  if ('problem' in found) {
    ctx.warn(label(KIND, spec.name), found.problem)
  } else {
    const record = found.found
    sr = {
      srUuid: record.uuid,
      srName: record.name,
      srType: record.type,
      srSize: record.size,
      srFreeSpace: Math.max(0, record.size - record.used),
    }
    ;({ mine, missing } = await orphans(ctx, pool, inventory, record))
  }
  const outputs: ReplicationTargetOutputs = {
    ...spec,
    ...sr,
    orphanedSnapshots: mine.map(toOutput),
    orphansOfMissingSrs: missing.map(toOutput),
    ...poolOutputs(pool),
  }
  return jsonClean(outputs as unknown as Props)
}
