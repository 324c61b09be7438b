import { z } from 'zod'

/**
 * The runner's per-job status record (kind JobStatus in the policy store, same id as the job). The runner
 * owns its format; the provider only passes `lastRun` through as an output and reads its duration, so it
 * checks just what it uses and tolerates the rest (extra fields, a record not written yet).
 */
const lastRunSchema = z.looseObject({
  runId: z.string(),
  start: z.number(),
  end: z.number().optional(),
  status: z.string(),
})

const statusRecordSchema = z.looseObject({ lastRun: lastRunSchema.optional() })

export type LastRun = z.output<typeof lastRunSchema>

export type JobStatusReading =
  | { state: 'absent' }
  | { state: 'present'; lastRun: LastRun | undefined; durationMs: number | undefined }
  | { state: 'unreadable'; reason: string }

export function readJobStatus(text: string | undefined): JobStatusReading {
  if (text === undefined) return { state: 'absent' }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { state: 'unreadable', reason: 'the job status record is not JSON' }
  }
  const result = statusRecordSchema.safeParse(parsed)
  if (!result.success) {
    const issue = result.error.issues[0]
    return { state: 'unreadable', reason: `the job status record has an invalid ${issue?.path.join('.') || 'shape'}` }
  }
  const lastRun = result.data.lastRun
  const durationMs =
    lastRun?.end !== undefined && lastRun.end >= lastRun.start ? lastRun.end - lastRun.start : undefined
  return { state: 'present', lastRun, durationMs }
}
