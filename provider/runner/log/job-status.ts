import { z } from 'zod'
import { endStatusSchema } from './events'
import { type RunSummary, vmCountsSchema } from './summary'

/**
 * The per-job status record the runner writes into the pool (BackupJob outputs, drift: "jobs that
 * stopped succeeding"). Pure: built from run summaries; where it is stored is the pool store's business.
 * Bounded so it fits comfortably in `pool.other_config`: at most MAX_STATUS_ERRORS errors, names and
 * titles cut at MAX_TEXT characters.
 */
export const MAX_STATUS_ERRORS = 5
const MAX_TEXT = 80

const text = z.string().max(MAX_TEXT)

export const jobStatusSchema = z.object({
  jobId: z.string(),
  lastRun: z
    .object({
      runId: z.string(),
      scheduleName: text,
      start: z.number(),
      end: z.number(),
      status: endStatusSchema,
      vmCounts: vmCountsSchema,
      errors: z
        .array(z.object({ vm: text.optional(), vmUuid: z.string().optional(), code: text, title: text }))
        .max(MAX_STATUS_ERRORS),
      /** Errors left out of the list. */
      moreErrors: z.number().int().nonnegative(),
    })
    .optional(),
  lastSuccess: z.object({ runId: z.string(), scheduleName: text, start: z.number(), end: z.number() }).optional(),
  /**
   * Finished runs since the last successful one that failed or were interrupted. Skipped runs (nothing
   * failed, something was skipped) neither count nor reset it.
   */
  consecutiveFailures: z.number().int().nonnegative(),
})
export type JobStatus = z.output<typeof jobStatusSchema>

/** The status after one more finished run. A run still pending leaves it unchanged. */
export function updateJobStatus(previous: JobStatus | undefined, run: RunSummary): JobStatus {
  const status = previous ?? { jobId: run.jobId, consecutiveFailures: 0 }
  if (run.end === undefined || run.status === 'pending') return status
  const errors = run.errors.slice(0, MAX_STATUS_ERRORS).map((error) => {
    const digest: { vm?: string; vmUuid?: string; code: string; title: string } = {
      code: cut(error.code),
      title: cut(error.title),
    }
    if (error.vm !== undefined) digest.vm = cut(error.vm)
    if (error.vmUuid !== undefined) digest.vmUuid = error.vmUuid
    return digest
  })
  const next: JobStatus = {
    jobId: run.jobId,
    lastRun: {
      runId: run.runId,
      scheduleName: cut(run.scheduleName),
      start: run.start,
      end: run.end,
      status: run.status,
      vmCounts: run.vmCounts,
      errors,
      moreErrors: run.errors.length - errors.length + run.moreErrors,
    },
    consecutiveFailures: status.consecutiveFailures,
  }
  if (status.lastSuccess !== undefined) next.lastSuccess = status.lastSuccess
  if (run.status === 'success') {
    next.lastSuccess = { runId: run.runId, scheduleName: cut(run.scheduleName), start: run.start, end: run.end }
    next.consecutiveFailures = 0
  } else if (run.status === 'failure' || run.status === 'interrupted') {
    next.consecutiveFailures++
  }
  return next
}

/** The status from a job's runs (any order), on top of a previous record (whose runs may be pruned). */
export function jobStatusFromRuns(jobId: string, runs: readonly RunSummary[], previous?: JobStatus): JobStatus {
  const known = previous?.lastRun
  const isNew = (run: RunSummary) =>
    known === undefined || run.end! > known.end || (run.end === known.end && run.runId !== known.runId)
  return [...runs]
    .filter((run) => run.end !== undefined && isNew(run))
    .sort((a, b) => a.end! - b.end! || (a.runId < b.runId ? -1 : 1))
    .reduce<JobStatus>((status, run) => updateJobStatus(status, run), previous ?? { jobId, consecutiveFailures: 0 })
}

function cut(value: string): string {
  return value.length <= MAX_TEXT ? value : `${value.slice(0, MAX_TEXT - 1)}…`
}
