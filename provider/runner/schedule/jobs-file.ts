import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { Modes } from '../../policy/backup-job'
import { scheduleSchema } from '../../policy/job-schedule'
import type { ScheduledJob } from './scheduler'

/**
 * The jobs the runner currently follows, written to `<stateDir>/jobs.json` whenever they change, so
 * `xcp-backup status` can say when each job runs next without reaching the pool.
 */
const JOBS_FILE_FORMAT = 'xcp-backup/jobs'

export const jobsFileSchema = z.object({
  format: z.literal(JOBS_FILE_FORMAT),
  version: z.literal(1),
  /** When the runner wrote it, ms since the epoch. */
  updated: z.number(),
  jobs: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      mode: z.enum(Modes),
      schedules: z.array(scheduleSchema),
    }),
  ),
})
export type JobsFile = z.output<typeof jobsFileSchema>

export function jobsFilePath(stateDir: string): string {
  return join(stateDir, 'jobs.json')
}

/** Replaces the file atomically (temporary file, fsync, rename). */
export function writeJobsFile(stateDir: string, jobs: readonly ScheduledJob[], now: number): void {
  const document: JobsFile = {
    format: JOBS_FILE_FORMAT,
    version: 1,
    updated: now,
    jobs: jobs.map(({ id, name, spec }) => ({ id, name, mode: spec.mode, schedules: spec.schedules })),
  }
  const path = jobsFilePath(stateDir)
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o640 })
  const fd = openSync(temporary, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temporary, path)
}

/** The file, or undefined when the runner never wrote one; an error names the file when it is damaged. */
export function readJobsFile(stateDir: string): JobsFile | undefined {
  const path = jobsFilePath(stateDir)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined
    throw error
  }
  const parsed = jobsFileSchema.safeParse(safeJson(text))
  if (!parsed.success)
    throw new Error(`${path} is damaged (${parsed.error.issues[0]?.message}): the runner rewrites it when it starts`)
  return parsed.data
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
