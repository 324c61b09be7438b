import { z } from 'zod'

/**
 * The run log's JSON lines format, version 1 (docs/runner.md, "Run log"). A run is one file of events:
 * a `run` header, then `start`, `info`, `warning`, `property` and `end` events of its tasks, in the
 * order they happened. XO's task events (@vates/task) are the model.
 */

export const RUN_LOG_FORMAT = 'xcp-backup/run-log'
export const RUN_LOG_VERSION = 1

/** A finished task's status. `pending` is the status of a task with no `end` event. */
export const EndStatuses = ['success', 'failure', 'skipped', 'interrupted'] as const
export const TaskStatuses = ['pending', ...EndStatuses] as const
export const endStatusSchema = z.enum(EndStatuses)
export const taskStatusSchema = z.enum(TaskStatuses)
export type EndStatus = z.output<typeof endStatusSchema>
export type TaskStatus = z.output<typeof taskStatusSchema>

const time = z.number().int().nonnegative().meta({ description: 'ms since the epoch' })
const json = z.record(z.string(), z.unknown())

export const explanationSchema = z.object({
  title: z.string(),
  meaning: z.string(),
  actions: z.array(z.string()),
})

/** How every error is recorded: what failed, what it means and what to do. Never a secret in it. */
export const loggedErrorSchema = z.object({
  code: z.string().min(1),
  message: z.string(),
  explanation: explanationSchema,
})
export type LoggedError = z.output<typeof loggedErrorSchema>

/** Who writes the run: a run whose writer is gone and that never ended was cut by a crash. */
export const ownerSchema = z.object({
  pid: z.number().int(),
  hostname: z.string(),
  /** Random per process: tells a restarted process that reuses a pid (a container's pid 1) from its predecessor. */
  instance: z.string(),
  /** Linux boot id: a run written before the last reboot has no live writer. */
  bootId: z.string().optional(),
})
export type RunOwner = z.output<typeof ownerSchema>

export const runHeaderSchema = z.object({
  type: z.literal('run'),
  format: z.literal(RUN_LOG_FORMAT),
  version: z.literal(RUN_LOG_VERSION),
  runId: z.string(),
  jobId: z.string(),
  owner: ownerSchema,
  time,
})

export const startEventSchema = z.object({
  type: z.literal('start'),
  id: z.string(),
  /** Absent for the root task (`backup run`). */
  parent: z.string().optional(),
  name: z.string(),
  properties: json,
  time,
})

export const entryEventSchema = z.object({
  type: z.enum(['info', 'warning']),
  id: z.string(),
  message: z.string(),
  data: z.unknown().optional(),
  time,
})

export const propertyEventSchema = z.object({
  type: z.literal('property'),
  id: z.string(),
  name: z.string(),
  value: z.unknown(),
  time,
})

export const endEventSchema = z.object({
  type: z.literal('end'),
  id: z.string(),
  /** The task's status, derived from its own outcome and its subtasks' (docs/runner.md, "Statuses"). */
  status: endStatusSchema,
  result: z.unknown().optional(),
  error: loggedErrorSchema.optional(),
  /** Set on `end` events written when the runner restarted after a crash; `time` is then the last event's. */
  recovered: z.literal(true).optional(),
  time,
})

export const logEventSchema = z.discriminatedUnion('type', [
  runHeaderSchema,
  startEventSchema,
  entryEventSchema,
  propertyEventSchema,
  endEventSchema,
])

export type RunHeader = z.output<typeof runHeaderSchema>
export type StartEvent = z.output<typeof startEventSchema>
export type EntryEvent = z.output<typeof entryEventSchema>
export type PropertyEvent = z.output<typeof propertyEventSchema>
export type EndEvent = z.output<typeof endEventSchema>
export type LogEvent = z.output<typeof logEventSchema>

/** Task names of a backup run, as XO names them. */
export const TaskNames = {
  run: 'backup run',
  vm: 'backup VM',
  snapshot: 'snapshot',
  export: 'export',
  transfer: 'transfer',
  merge: 'merge',
  clean: 'clean-vm',
  healthCheck: 'health check',
} as const

/** Properties of the root task. */
export const runPropertiesSchema = z.object({
  jobId: z.string(),
  jobName: z.string(),
  scheduleId: z.string(),
  scheduleName: z.string(),
  mode: z.string(),
  runId: z.string(),
})
export type RunProperties = z.output<typeof runPropertiesSchema>

/** Properties of a `backup VM` task. */
export const vmPropertiesSchema = z.object({ vmUuid: z.string(), name_label: z.string() })
export type VmProperties = z.output<typeof vmPropertiesSchema>

/**
 * The `progress` property: bytes (or other units) done out of total. Rates are computed by readers
 * from successive values and their times.
 */
export const progressSchema = z.object({ done: z.number().nonnegative(), total: z.number().nonnegative().optional() })
export type Progress = z.output<typeof progressSchema>
