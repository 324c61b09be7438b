import { appendFileSync, closeSync, fsyncSync, openSync, rmSync, truncateSync } from 'node:fs'
import { explainCode } from '../../explain/catalog'
import type { EndEvent, LoggedError } from './events'
import { ownerMayBeAlive } from './owner'
import { runFile } from './paths'
import { readRunFile } from './read'
import type { RunStore } from './store'
import { type RunSummary, summarizeRun } from './summary'

export interface Recovery {
  /** Runs cut by a crash, now ended `interrupted`. */
  interrupted: RunSummary[]
  /** Run files that could not be read or held no task, with the reason; left as they are unless empty. */
  problems: string[]
}

const crashError = (): LoggedError => {
  const { title, meaning, actions } = explainCode('INTERRUPTED')!
  return {
    code: 'INTERRUPTED',
    message: 'the runner stopped (crash or kill) while this was running',
    explanation: { title, meaning, actions: [...actions] },
  }
}

/**
 * Ends every run left pending by a runner that died: each pending task, deepest first, then the run
 * itself get an `end` event with status `interrupted`, code INTERRUPTED, `recovered: true` and the time
 * of the last event written before the crash. Runs whose writer may still be alive (another process on
 * this host, or another host) are left alone. Run when the runner starts, before it schedules anything.
 */
export function recoverInterruptedRuns(store: RunStore): Recovery {
  const interrupted: RunSummary[] = []
  const problems: string[] = []
  for (const jobId of store.listJobs()) {
    const { runs, problems: unreadable } = store.listRuns(jobId)
    problems.push(...unreadable)
    for (const { summary } of runs) {
      if (summary.end !== undefined) continue
      const path = runFile(store.stateDir, jobId, summary.runId)
      try {
        const recovered = endPendingTasks(path)
        if (recovered === undefined) continue
        store.recordFinished(recovered)
        interrupted.push(recovered)
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error))
      }
    }
  }
  return { interrupted, problems }
}

function endPendingTasks(path: string): RunSummary | undefined {
  const { tree, validBytes, truncated } = readRunFile(path)
  if (tree.header === undefined || tree.root === undefined) {
    // Died before the run's first task was written: nothing to report, nothing to keep.
    rmSync(path, { force: true })
    return undefined
  }
  if (tree.root.status !== 'pending' || ownerMayBeAlive(tree.header.owner)) return undefined
  // The writer died in the middle of a line: cut it off so the next event starts on a line of its own.
  if (truncated) truncateSync(path, validBytes)
  const time = tree.lastTime
  const events: EndEvent[] = tree
    .pendingTasks()
    .map((task) => ({ type: 'end', id: task.id, status: 'interrupted', error: crashError(), recovered: true, time }))
  appendFileSync(path, events.map((event) => `${JSON.stringify(event)}\n`).join(''))
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  for (const event of events) tree.apply(event)
  return summarizeRun(tree)
}
