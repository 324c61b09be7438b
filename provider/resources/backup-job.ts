import type { BackupJob } from '../policy/backup-job'
import { nextRuns } from '../policy/schedule'
import { encodeStoredSpec } from '../policy/stored-spec'
import { isUnknown, type Unknowable } from '../policy/unknown'
import { checkPolicy, parsePolicy } from '../policy/validate'
import { type PoolInventory, readInventory } from '../pool/inventory'
import { idForName } from '../pool/store-ids'
import { label, type ProviderContext } from './context'
import { checkNewName } from './identity'
import { type JobPreflight, jobPreflight, jobReferenceFailures } from './job-preflight'
import { type LastRun, readJobStatus } from './job-status'
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
import { poolLabel } from './references'
import { readStored, resourceId, storeIdOf, storeNew, storeReplace } from './stored-objects'

/**
 * BackupJob: one stored spec. Its outputs say what the job would do now (the VMs its selection matches,
 * when each schedule fires next, the warnings preview gives) and what it last did (the runner's status
 * record). Deleting a job removes its spec and its status record; backups, snapshots and replicas are
 * never touched.
 */

const KIND = 'BackupJob'
const FIELDS = managedFields(KIND)
/** Next runs listed per schedule. */
const NEXT_RUNS = 3

export type BackupJobOutputs = BackupJob &
  PoolOutputs & {
    /** The job's id in the pool: its status record and the markers on its snapshots use it. */
    jobId: string
    selectedVms: { uuid: string; name: string }[]
    nextRuns: { schedule: string; at: string[] }[]
    lastRun?: LastRun
    warnings: string[]
  }

export const backupJobProvider: KindProvider = {
  async check(ctx, olds, news): Promise<CheckOutcome> {
    const result = checkPolicy(KIND, news, { unknowns: 'skip' })
    if (!result.ok) {
      // Still name the VMs and SRs that do not exist, so one preview lists every problem.
      const resolution =
        typeof news.pool === 'string' || news.pool === undefined ? await poolForCheck(ctx, news.pool) : undefined
      if (resolution?.state !== 'connected') return { inputs: news, failures: result.failures }
      const inventory = await readInventory(resolution.pool.xapi)
      const references = jobReferenceFailures(news, inventory, poolLabel(resolution.pool.name, inventory))
      return { inputs: news, failures: [...result.failures, ...references] }
    }
    const spec = result.value as Props
    const resolution = await poolForCheck(ctx, spec.pool)
    if (resolution.state === 'failed') return { inputs: news, failures: [resolution.failure] }
    if (resolution.state === 'unknown') return { inputs: jsonClean(spec), failures: [] }
    const pool = resolution.pool
    const failures = await checkNewName(pool, KIND, olds, spec)
    const { preflight, notes } = await preflightFor(ctx, pool, result.value, news)
    failures.push(...preflight.failures)
    const who = label(KIND, stringField(spec, 'name'))
    for (const warning of [...preflight.warnings, ...notes]) ctx.warn(who, warning)
    return { inputs: jsonClean(spec), failures }
  },

  diff(ctx, _id, olds, news) {
    return diffManaged(ctx, olds, news, FIELDS, ['name'])
  },

  async create(ctx, news) {
    const spec = parsePolicy(KIND, news)
    const pool = await ctx.sessions.get(ctx.sessions.nameFor(spec.pool))
    const id = idForName(KIND, spec.name)
    await storeNew(pool, KIND, id, encodeStoredSpec(KIND, spec), label(KIND, spec.name))
    return { id: resourceId(KIND, id), outs: await outputsOf(ctx, pool, spec, id) }
  },

  async read(ctx, id, olds) {
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    const stored = await readStored(pool, KIND, storeId)
    if (stored.state === 'missing') return {}
    if (stored.state === 'unreadable') {
      ctx.warn(label(KIND, stringField(olds, 'name')), `${stored.reason}; pulumi up will write it again`)
      return { id, props: { ...poolOutputs(pool), jobId: storeId } }
    }
    return { id, props: await outputsOf(ctx, pool, stored.spec, storeId) }
  },

  async update(ctx, id, olds, news) {
    const spec = parsePolicy(KIND, news)
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    const stored = await readStored(pool, KIND, storeId)
    const previous = stored.state === 'missing' ? undefined : stored.text
    await storeReplace(pool, KIND, storeId, encodeStoredSpec(KIND, spec), previous)
    return { outs: await outputsOf(ctx, pool, spec, storeId) }
  },

  async delete(ctx, id, olds) {
    const pool = await ctx.sessions.holding(stringField(olds, 'poolName'), stringField(olds, 'poolUuid'))
    const storeId = storeIdOf(id)
    await pool.store.remove(KIND, storeId)
    await pool.store.remove('JobStatus', storeId)
  },
}

async function preflightFor(
  ctx: ProviderContext,
  pool: PoolHandle,
  job: Unknowable<BackupJob>,
  written: Props,
): Promise<{ preflight: JobPreflight; lastRun: LastRun | undefined; notes: string[] }> {
  const inventory = await readInventory(pool.xapi)
  const name = isUnknown(job) ? undefined : job.name
  const jobId = name === undefined || isUnknown(name) ? undefined : idForName(KIND, name)
  const notes: string[] = []
  const status = readJobStatus(jobId === undefined ? undefined : await pool.store.get('JobStatus', jobId))
  if (status.state === 'unreadable')
    notes.push(`${status.reason}: last run not shown (the runner rewrites it after its next run)`)
  const preflight = jobPreflight({
    job,
    written,
    jobId,
    pool: inventory,
    poolLabel: poolLabel(pool.name, inventory),
    otherPools: await otherPools(ctx, pool, inventory, job, notes),
    lastRunMs: status.state === 'present' ? status.durationMs : undefined,
  })
  return { preflight, lastRun: status.state === 'present' ? status.lastRun : undefined, notes }
}

/** The other configured pools a smart selection names, when it names any; unreachable ones are noted. */
async function otherPools(
  ctx: ProviderContext,
  pool: PoolHandle,
  inventory: PoolInventory,
  job: Unknowable<BackupJob>,
  notes: string[],
): Promise<PoolInventory[]> {
  if (isUnknown(job) || isUnknown(job.vms) || job.vms.select !== 'smart' || isUnknown(job.vms.pools)) return []
  const named = job.vms.pools.filter((ref) => ref !== inventory.pool.uuid && ref !== inventory.pool.name)
  if (named.length === 0) return []
  const inventories: PoolInventory[] = []
  for (const name of ctx.sessions.config.pools.keys()) {
    if (name === pool.name) continue
    try {
      inventories.push(await readInventory((await ctx.sessions.get(name)).xapi))
    } catch (error) {
      notes.push(`pool ${JSON.stringify(name)} could not be read, its VMs are not counted: ${(error as Error).message}`)
    }
  }
  return inventories
}

/** The same shape after create, update and read: the spec, where it is, and what it would do now. */
async function outputsOf(ctx: ProviderContext, pool: PoolHandle, spec: BackupJob, id: string): Promise<Props> {
  const { preflight, lastRun, notes } = await preflightFor(ctx, pool, spec, spec)
  const outputs: BackupJobOutputs = {
    ...spec,
    jobId: id,
    selectedVms: (preflight.selected ?? []).map((vm) => ({ uuid: vm.uuid, name: vm.name_label })),
    nextRuns: spec.schedules.map((schedule) => ({
      schedule: schedule.name,
      at: schedule.enabled ? nextRuns(schedule, NEXT_RUNS).map((date) => date.toISOString()) : [],
    })),
    ...(lastRun === undefined ? {} : { lastRun }),
    // Problems with references (a listed VM deleted since) are warnings here: the job exists, it will skip them.
    warnings: [...preflight.failures.map((f) => `${f.property}: ${f.reason}`), ...preflight.warnings, ...notes],
    ...poolOutputs(pool),
  }
  return jsonClean(outputs as unknown as Props)
}
