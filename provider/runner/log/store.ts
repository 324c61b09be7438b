import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { z } from 'zod'
import { ownerMayBeAlive } from './owner'
import { decodeJobId, indexFile, jobDir, runFile, runIdOfFile, runsDir } from './paths'
import { readRunFile } from './read'
import { type RunSummary, runSummarySchema, summarizeRun } from './summary'
import type { RunTree } from './tree'

/**
 * Reading the run log, and the bookkeeping around the run files: the per-job index of finished runs and
 * pruning. The index only caches summaries of finished runs; listing checks the directory, so a lost or
 * stale index never hides a run.
 */

const INDEX_FORMAT = 'xcp-backup/run-index'
const indexSchema = z.object({
  format: z.literal(INDEX_FORMAT),
  version: z.literal(1),
  jobId: z.string(),
  runs: z.array(runSummarySchema),
})

export interface ListedRun {
  summary: RunSummary
  /**
   * Pending, but its writer on this host is gone: the run was cut by a crash and will be recorded as
   * interrupted when the runner starts again. Readers show it as interrupted.
   */
  orphaned: boolean
}

export interface RunListing {
  /** Newest first. */
  runs: ListedRun[]
  /** Run files that could not be read, with the reason. */
  problems: string[]
}

export class RunNotFoundError extends Error {
  readonly code = 'RUN_NOT_FOUND'
}

export class RunStore {
  constructor(readonly stateDir: string) {}

  /** Ids of the jobs that have runs. */
  listJobs(): string[] {
    const dir = runsDir(this.stateDir)
    if (!existsSync(dir)) return []
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => decodeJobId(entry.name))
      .sort()
  }

  listRuns(jobId: string): RunListing {
    const indexed = new Map(this.readIndex(jobId).map((summary) => [summary.runId, summary]))
    const runs: ListedRun[] = []
    const problems: string[] = []
    for (const runId of this.runIds(jobId)) {
      const cached = indexed.get(runId)
      if (cached !== undefined) {
        runs.push({ summary: cached, orphaned: false })
        continue
      }
      try {
        const summary = summarizeRun(this.loadRun(jobId, runId))
        runs.push({ summary, orphaned: isOrphaned(summary) })
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error))
      }
    }
    runs.sort((a, b) => b.summary.start - a.summary.start || (a.summary.runId < b.summary.runId ? 1 : -1))
    return { runs, problems }
  }

  /** A run's task tree; throws RunNotFoundError or RunLogFormatError. */
  loadRun(jobId: string, runId: string): RunTree {
    const path = runFile(this.stateDir, jobId, runId)
    if (!existsSync(path))
      throw new RunNotFoundError(`no run ${runId} for job ${JSON.stringify(jobId)} in ${this.stateDir}`)
    return readRunFile(path).tree
  }

  /** The job a run belongs to, searching every job. */
  findRun(runId: string): string | undefined {
    return this.listJobs().find((jobId) => existsSync(runFile(this.stateDir, jobId, runId)))
  }

  /** Records a finished run's summary in the job's index. */
  recordFinished(summary: RunSummary): void {
    const runs = this.readIndex(summary.jobId).filter((run) => run.runId !== summary.runId)
    runs.push(summary)
    this.writeIndex(summary.jobId, runs)
  }

  /**
   * Deletes the job's finished runs beyond the newest `keep`; pending runs are never deleted. Returns
   * the run ids removed.
   */
  prune(jobId: string, keep: number): string[] {
    const finished = this.listRuns(jobId).runs.filter(({ summary, orphaned }) => summary.end !== undefined && !orphaned)
    const removed = finished.slice(keep).map(({ summary }) => summary.runId)
    if (removed.length === 0) return []
    const gone = new Set(removed)
    this.writeIndex(
      jobId,
      this.readIndex(jobId).filter((run) => !gone.has(run.runId)),
    )
    for (const runId of removed) rmSync(runFile(this.stateDir, jobId, runId), { force: true })
    return removed
  }

  private runIds(jobId: string): string[] {
    const dir = jobDir(this.stateDir, jobId)
    if (!existsSync(dir)) return []
    return readdirSync(dir)
      .map(runIdOfFile)
      .filter((runId): runId is string => runId !== undefined)
  }

  private readIndex(jobId: string): RunSummary[] {
    const path = indexFile(this.stateDir, jobId)
    try {
      const parsed = indexSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
      return parsed.success && parsed.data.jobId === jobId ? parsed.data.runs : []
    } catch {
      // Missing or damaged: it is a cache, the run files are the truth.
      return []
    }
  }

  /** Written to a temporary file, made durable, then renamed over the old index. */
  private writeIndex(jobId: string, runs: RunSummary[]): void {
    const path = indexFile(this.stateDir, jobId)
    const temporary = `${path}.${process.pid}.tmp`
    const document: z.output<typeof indexSchema> = { format: INDEX_FORMAT, version: 1, jobId, runs }
    writeFileSync(temporary, `${JSON.stringify(document)}\n`, { mode: 0o640 })
    const fd = openSync(temporary, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, path)
  }
}

function isOrphaned(summary: RunSummary): boolean {
  return summary.status === 'pending' && summary.owner !== undefined && !ownerMayBeAlive(summary.owner)
}
