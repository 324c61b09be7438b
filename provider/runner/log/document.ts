import { z } from 'zod'
import { type RunSummary, runSummarySchema, summarizeRun } from './summary'
import { type RunTree, type TaskNode, taskNodeSchema } from './tree'

/**
 * A finished run as one JSON document: its summary and its whole task tree. The pipeline stores a copy
 * beside the backups on the remote, so the log of a run survives the runner host; `xcp-backup logs
 * --json` prints the same document.
 */
export const RUN_DOCUMENT_FORMAT = 'xcp-backup/run'

export const runDocumentSchema = z.object({
  format: z.literal(RUN_DOCUMENT_FORMAT),
  version: z.literal(1),
  summary: runSummarySchema.omit({ owner: true }),
  root: taskNodeSchema,
})

export interface RunDocument {
  format: typeof RUN_DOCUMENT_FORMAT
  version: 1
  summary: Omit<RunSummary, 'owner'>
  root: TaskNode
}

export class RunNotFinishedError extends Error {
  readonly code = 'RUN_NOT_FINISHED'
}

/** The document of a run; `allowPending` also accepts a run still going (for display). */
export function runDocument(tree: RunTree, options: { allowPending?: boolean } = {}): RunDocument {
  const { owner: _owner, ...summary } = summarizeRun(tree)
  if (summary.end === undefined && options.allowPending !== true) {
    throw new RunNotFinishedError(`run ${summary.runId} has not ended: only a finished run can be exported`)
  }
  return { format: RUN_DOCUMENT_FORMAT, version: 1, summary, root: structuredClone(tree.root!) }
}

/** Reads a run document back (from a remote), checking its shape. */
export function parseRunDocument(json: unknown): RunDocument {
  return runDocumentSchema.parse(json) as RunDocument
}
