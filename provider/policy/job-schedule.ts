import { z } from 'zod'
import { CRON_EXAMPLE, CRON_FORMAT, canonicalCron, cronProblem } from './cron'
import { count, nameSchema, strictObject } from './fields'
import { timezoneProblem } from './timezone'

export const cronSchema = z
  .string()
  .superRefine((expression, ctx) => {
    const problem = cronProblem(expression)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
  })
  .overwrite(canonicalCron)
  .meta({
    description:
      `When the schedule fires: standard 5-field cron (${CRON_FORMAT}), months 1-12 and days of the week 0-7 ` +
      '(0 and 7 are Sunday), names jan-dec and sun-sat, *, ranges, lists and steps; presets `@hourly`, `@daily`, ' +
      '`@weekly`, `@monthly`, `@yearly`. Unlike Xen Orchestra, whose cron numbers months 0-11. When both day fields ' +
      'are restricted, a day matching either one fires.',
    examples: [CRON_EXAMPLE, '0 22 * * 1-5', '30 1 * * sun'],
  })

export const timezoneSchema = z
  .string()
  .superRefine((name, ctx) => {
    const problem = timezoneProblem(name)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
  })
  .meta({
    description:
      'IANA time zone the cron expression and the long-term retention periods are read in. On days when clocks ' +
      'change, a time that does not exist (02:30 when clocks jump from 02:00 to 03:00) fires an hour later, at ' +
      '03:30; a time that happens twice fires once, the first time.',
    examples: ['Europe/Paris', 'America/New_York'],
  })

const periods = (unit: string, note = '') =>
  count(
    `Keep the oldest backup of each of the last N ${unit}s${note} that have a backup (${unit}s without ` +
      `backups do not count). 0: none kept for this reason.`,
  ).default(0)

export const longTermRetentionSchema = strictObject({
  daily: periods('day'),
  weekly: periods('week', ' (Sunday to Saturday)'),
  monthly: periods('month'),
  yearly: periods('year'),
}).meta({
  id: 'LongTermRetention',
  description:
    'Grandfather-father-son retention on remotes, on top of exportRetention: a backup is kept while it is among ' +
    'the last exportRetention backups or represents one of the periods below (periods are read in the ' +
    "schedule's time zone). Needs exportRetention > 0.",
})

export const scheduleSchema = strictObject({
  name: nameSchema(
    'Name of the schedule, unique within the job. Retention counts the backups of each schedule separately, so ' +
      'renaming a schedule starts a new count and leaves the old backups to be deleted by hand.',
  ),
  cron: cronSchema,
  timezone: timezoneSchema.default('UTC'),
  enabled: z
    .boolean()
    .default(true)
    .meta({ description: 'A disabled schedule never fires; the job can still be run by hand with it.' }),
  exportRetention: count(
    'Backups of each VM kept on each remote by this schedule. 0: this schedule writes nothing to remotes.',
  ).default(0),
  copyRetention: count(
    'Replicas of each VM kept on each replication target by this schedule. 0: this schedule does not replicate.',
  ).default(0),
  snapshotRetention: count(
    'Snapshots of each VM kept on its own SR by this schedule (rolling snapshots). In delta mode the newest ' +
      'snapshot is also kept as the base of the next delta, whatever this says.',
  ).default(0),
  fullInterval: count(
    'Delta mode: start a new chain with a full backup when the chain reaches this many backups (1 makes every ' +
      'backup full). 0: never forced; the chain is still restarted when its base is gone.',
  ).default(0),
  longTermRetention: longTermRetentionSchema.optional(),
}).meta({
  id: 'BackupSchedule',
  description: 'When the job runs and how much each run keeps.',
})

export type ScheduleInput = z.input<typeof scheduleSchema>
export type Schedule = z.output<typeof scheduleSchema>
export type LongTermRetention = z.output<typeof longTermRetentionSchema>
