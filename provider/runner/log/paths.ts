import { join } from 'node:path'
import { isRunId } from '../ids'

/**
 * Where the run log lives in the state directory:
 *
 *   <stateDir>/runs/<job>/<runId>.jsonl   one run's events (JSON lines)
 *   <stateDir>/runs/<job>/index.json      summaries of the job's finished runs (a cache of the files)
 *
 * `<job>` is the job id with every character that is not safe in a file name percent-encoded.
 */
export function runsDir(stateDir: string): string {
  return join(stateDir, 'runs')
}

export function jobDir(stateDir: string, jobId: string): string {
  return join(runsDir(stateDir), encodeJobId(jobId))
}

export function runFile(stateDir: string, jobId: string, runId: string): string {
  if (!isRunId(runId)) throw new TypeError(`${JSON.stringify(runId)} is not a run id`)
  return join(jobDir(stateDir, jobId), `${runId}.jsonl`)
}

export function indexFile(stateDir: string, jobId: string): string {
  return join(jobDir(stateDir, jobId), 'index.json')
}

/** The run id of a run file name, or undefined for other files. */
export function runIdOfFile(name: string): string | undefined {
  if (!name.endsWith('.jsonl')) return undefined
  const runId = name.slice(0, -'.jsonl'.length)
  return isRunId(runId) ? runId : undefined
}

export function encodeJobId(jobId: string): string {
  if (jobId === '') throw new TypeError('a job id cannot be empty')
  return encodeURIComponent(jobId).replace(/^\.|[*!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

export function decodeJobId(name: string): string {
  return decodeURIComponent(name)
}
