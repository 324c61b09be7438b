import { z } from 'zod'
import { nameSchema, poolSchema, setOf, sortedSet, strictObject } from './fields'
import { type Schedule, scheduleSchema } from './job-schedule'
import { type Settings, settingsSchema } from './job-settings'
import { vmSelectionSchema } from './job-vms'
import { isUnknown, knownArray, type Unknowable } from './unknown'

export const Modes = ['full', 'delta'] as const
export const Compressions = ['none', 'gzip', 'zstd'] as const

const backupJobShape = strictObject({
  name: nameSchema(
    'Name of the job; snapshots are named "[XO Backup <name>] <VM name>". It identifies the job: changing it ' +
      'replaces the resource.',
  ),
  pool: poolSchema.optional(),
  mode: z.enum(Modes).meta({
    description:
      'full: each backup is a whole-VM export (XVA); replicas are full copies (disaster recovery). delta: the ' +
      'first backup of a chain is full, the next ones only hold changed blocks (VHD); replicas are updated in ' +
      'place (continuous replication).',
  }),
  vms: vmSelectionSchema,
  remotes: setOf(z.string().min(1), 'remotes')
    .default([])
    .meta({ description: 'Names of the Remote resources that receive backups (see exportRetention).' }),
  replicationTargets: setOf(z.string().min(1), 'replicationTargets')
    .default([])
    .meta({ description: 'Names of the ReplicationTarget resources that receive replicas (see copyRetention).' }),
  compression: z
    .enum(Compressions)
    .default('none')
    .meta({
      description:
        'Full mode only: compression of the XVA export, done by the host. zstd is fast and compact (the pool must ' +
        'allow zstd exports); gzip is slow but universal. Delta backups are written as uncompressed VHDs, so delta ' +
        'jobs refuse any value but "none" (Xen Orchestra silently ignores it).',
    }),
  schedules: z
    .array(scheduleSchema)
    .min(1)
    .superRefine((schedules, ctx) => checkScheduleNames(schedules, ctx))
    .meta({ description: 'When the job runs and what each run keeps; at least one, names unique.' }),
  settings: settingsSchema.prefault({}),
})

export type BackupJobInput = z.input<typeof backupJobShape>
export type BackupJob = z.output<typeof backupJobShape>

export const backupJobSchema = backupJobShape
  .superRefine((job, ctx) => checkJob(job, ctx))
  .meta({
    description:
      'A backup job: which VMs, where their backups and replicas go, when it runs and how much it keeps. It ' +
      'follows the Xen Orchestra backup pipeline (snapshot, export, transfer, retention, snapshot removal).',
  })

type Issue = { path: (string | number)[]; message: string }

function checkScheduleNames(schedules: Unknowable<Schedule>[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>()
  for (const [index, schedule] of schedules.entries()) {
    if (isUnknown(schedule) || isUnknown(schedule.name)) continue
    if (seen.has(schedule.name)) {
      ctx.addIssue({
        code: 'custom',
        path: [index, 'name'],
        message: `schedule name ${JSON.stringify(schedule.name)} is used twice: each schedule needs its own name, retention is counted per schedule`,
      })
    }
    seen.add(schedule.name)
  }
}

/** Rules between fields. Each one is skipped when a value it reads is unknown (preview). */
function checkJob(job: Unknowable<BackupJob>, ctx: z.RefinementCtx): void {
  if (isUnknown(job)) return
  const issues: Issue[] = [
    ...compressionRules(job),
    ...scheduleRules(job),
    ...targetRules(job),
    ...healthCheckRules(job),
  ]
  for (const { path, message } of issues) ctx.addIssue({ code: 'custom', path, message })
}

function compressionRules(job: Exclude<Unknowable<BackupJob>, string>): Issue[] {
  if (job.mode === 'delta' && (job.compression === 'gzip' || job.compression === 'zstd')) {
    return [
      {
        path: ['compression'],
        message: `compression applies to full (XVA) exports only: delta backups are stored as uncompressed VHDs. Remove compression (or set "none"), or use mode "full"`,
      },
    ]
  }
  return []
}

/** A schedule and its index, for schedules that are themselves known. */
function knownSchedules(
  job: Exclude<Unknowable<BackupJob>, string>,
): [number, Exclude<Unknowable<Schedule>, string>][] {
  const schedules = knownArray(job.schedules) ?? []
  return [...schedules.entries()].filter((entry): entry is [number, Exclude<Unknowable<Schedule>, string>] => {
    return !isUnknown(entry[1])
  })
}

/** n > 0 for a known number; undefined when unknown. */
function positive(value: Unknowable<number>): boolean | undefined {
  return isUnknown(value) ? undefined : value > 0
}

function scheduleRules(job: Exclude<Unknowable<BackupJob>, string>): Issue[] {
  const issues: Issue[] = []
  const settings = job.settings as Unknowable<Settings>
  const offlineBackup = isUnknown(settings) ? undefined : settings.offlineBackup
  for (const [index, schedule] of knownSchedules(job)) {
    if (job.mode === 'full' && positive(schedule.fullInterval) === true) {
      issues.push({
        path: ['schedules', index, 'fullInterval'],
        message:
          'fullInterval restarts delta chains; in full mode every backup is already full: remove it or use mode "delta"',
      })
    }
    if (offlineBackup === true && positive(schedule.snapshotRetention) === true) {
      issues.push({
        path: ['schedules', index, 'snapshotRetention'],
        message:
          'settings.offlineBackup exports the VM while it is shut down and keeps no snapshot: set snapshotRetention to 0, or use offlineSnapshot instead',
      })
    }
    const ltr = schedule.longTermRetention
    if (ltr !== undefined && !isUnknown(ltr) && positive(schedule.exportRetention) === false) {
      const periods = [ltr.daily, ltr.weekly, ltr.monthly, ltr.yearly]
      if (periods.some((period) => positive(period) === true)) {
        issues.push({
          path: ['schedules', index, 'longTermRetention'],
          message:
            'longTermRetention keeps extra backups on remotes, on top of exportRetention: set exportRetention to at least 1',
        })
      }
    }
  }
  return issues
}

function targetRules(job: Exclude<Unknowable<BackupJob>, string>): Issue[] {
  const remotes = knownArray(job.remotes)
  const targets = knownArray(job.replicationTargets)
  const schedules = knownSchedules(job)
  const allSchedulesKnown = !isUnknown(job.schedules) && schedules.length === job.schedules.length
  const any = (key: 'exportRetention' | 'copyRetention' | 'snapshotRetention'): boolean | undefined => {
    const values = schedules.map(([, schedule]) => positive(schedule[key]))
    if (values.includes(true)) return true
    return allSchedulesKnown && !values.includes(undefined) ? false : undefined
  }
  if (remotes?.length === 0 && targets?.length === 0 && any('snapshotRetention') === false) {
    return [
      {
        path: ['remotes'],
        message:
          'the job would do nothing: list remotes (and set exportRetention), replicationTargets (and set copyRetention), or keep snapshots (snapshotRetention > 0) in a schedule',
      },
    ]
  }
  const issues: Issue[] = []
  if (remotes !== undefined && remotes.length > 0 && any('exportRetention') === false) {
    issues.push({
      path: ['remotes'],
      message:
        'remotes are listed but no schedule has exportRetention > 0, so nothing would be written to them: set exportRetention in a schedule',
    })
  }
  if (targets !== undefined && targets.length > 0 && any('copyRetention') === false) {
    issues.push({
      path: ['replicationTargets'],
      message:
        'replicationTargets are listed but no schedule has copyRetention > 0, so nothing would be replicated: set copyRetention in a schedule',
    })
  }
  for (const [index, schedule] of schedules) {
    if (remotes?.length === 0 && positive(schedule.exportRetention) === true) {
      issues.push({
        path: ['schedules', index, 'exportRetention'],
        message: 'exportRetention keeps backups on remotes, but the job lists no remotes: add remotes or set it to 0',
      })
    }
    if (targets?.length === 0 && positive(schedule.copyRetention) === true) {
      issues.push({
        path: ['schedules', index, 'copyRetention'],
        message:
          'copyRetention keeps replicas on replication targets, but the job lists no replicationTargets: add some or set it to 0',
      })
    }
    const retentions = [schedule.exportRetention, schedule.copyRetention, schedule.snapshotRetention].map(positive)
    if (retentions.every((value) => value === false)) {
      issues.push({
        path: ['schedules', index],
        message: `schedule ${JSON.stringify(schedule.name)} keeps nothing: set exportRetention, copyRetention or snapshotRetention`,
      })
    }
  }
  return issues
}

function healthCheckRules(job: Exclude<Unknowable<BackupJob>, string>): Issue[] {
  const settings = job.settings as Unknowable<Settings>
  if (isUnknown(settings) || settings.healthCheck === undefined) return []
  if (knownArray(job.remotes)?.length === 0 && knownArray(job.replicationTargets)?.length === 0) {
    return [
      {
        path: ['settings', 'healthCheck'],
        message:
          'healthCheck restores what the job wrote to a remote or replicated to an SR, and this job has neither: remove healthCheck or add remotes',
      },
    ]
  }
  return []
}

/**
 * Canonical form, so equal policies store equal JSON and diffs stay quiet: lists whose order does not
 * matter sorted, schedules sorted by name, a long-term retention that keeps nothing dropped.
 */
export function normalizeBackupJob<T extends Unknowable<BackupJob>>(job: T): T {
  if (isUnknown(job)) return job
  const known = job as Exclude<Unknowable<BackupJob>, string>
  return {
    ...known,
    vms: normalizeSelection(known.vms),
    remotes: sortedSet(known.remotes),
    replicationTargets: sortedSet(known.replicationTargets),
    schedules: normalizeSchedules(known.schedules),
    settings: normalizeSettings(known.settings),
  } as T
}

function normalizeSelection(vms: Unknowable<BackupJob['vms']>): Unknowable<BackupJob['vms']> {
  // With an unknown discriminator the object was kept as given, without defaults: leave it so.
  if (isUnknown(vms) || isUnknown(vms.select)) return vms
  if ('list' in vms) return { ...vms, list: sortedSet(vms.list) }
  return { ...vms, pools: sortedSet(vms.pools), tags: sortedSet(vms.tags), excludeTags: sortedSet(vms.excludeTags) }
}

function normalizeSchedules(schedules: Unknowable<Schedule[]>): Unknowable<Schedule[]> {
  if (isUnknown(schedules)) return schedules
  const normalized = schedules.map((schedule) => {
    if (isUnknown(schedule) || schedule.longTermRetention === undefined || isUnknown(schedule.longTermRetention)) {
      return schedule
    }
    const { longTermRetention, ...rest } = schedule
    const keepsSomething = Object.values(longTermRetention).some((count) => isUnknown(count) || count > 0)
    return keepsSomething ? schedule : rest
  })
  const names = normalized.map((schedule) => (isUnknown(schedule) ? schedule : schedule.name))
  if (names.some(isUnknown)) return normalized
  return normalized.sort((a, b) => compareStrings((a as Schedule).name, (b as Schedule).name))
}

function normalizeSettings(settings: Unknowable<Settings>): Unknowable<Settings> {
  if (isUnknown(settings) || settings.healthCheck === undefined || isUnknown(settings.healthCheck)) return settings
  return {
    ...settings,
    healthCheck: { ...settings.healthCheck, vmsWithTags: sortedSet(settings.healthCheck.vmsWithTags) },
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
