import { type Explanation, explainCode, explainError } from '../../explain/catalog'
import type { EndStatus, LoggedError } from './events'
import type { Redactor } from './redact'

/**
 * Errors as the run log records them: `{code, message, explanation}` from the catalog, so every failure
 * says what it means and what to do, with secrets redacted from the message.
 */

/** The reason runs are aborted with when the runner stops; tasks that fail with it end `interrupted`. */
export class InterruptedError extends Error {
  readonly code = 'INTERRUPTED'
  constructor(message = 'the runner is stopping: the run was interrupted') {
    super(message)
    this.name = 'InterruptedError'
  }
}

/** An error carrying one of our codes, for refusals that are not exceptions elsewhere. */
export class RunError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

const UNKNOWN_ERROR = 'UNKNOWN_ERROR'

const unexplained = {
  title: 'Unexpected error',
  meaning:
    'xcp-backup has no explanation for this error yet. The message is what the failing part (XAPI, the remote, the runner) reported.',
  actions: [
    'Read the message: it usually names the operation and the object that failed.',
    'Retry the job; if the error repeats, report it with this run’s log (`xcp-backup logs JOB --run RUN --json`).',
  ],
}

const skippedWithoutCode = {
  title: 'Skipped',
  meaning: 'This work was not done in this run, for the reason given; the next run tries again.',
  actions: ['Nothing to do unless every run skips it: then act on the reason given.'],
}

export function toLoggedError(error: unknown, redact: Redactor): LoggedError {
  const explanation = isInterruption(error) ? explainCode('INTERRUPTED') : explainError(error)
  const message = redact(errorMessage(error))
  return {
    code: explanation?.code ?? ownCode(error) ?? UNKNOWN_ERROR,
    message,
    explanation: explanation === undefined ? unexplained : pickExplanation(explanation),
  }
}

/** A skip given as a sentence (or a code's explanation when the sentence comes with a known code). */
export function skipError(reason: string, code: string | undefined, redact: Redactor): LoggedError {
  const explanation = code === undefined ? undefined : explainCode(code)
  return {
    code: explanation?.code ?? code ?? 'SKIPPED',
    message: redact(reason),
    explanation: explanation === undefined ? skippedWithoutCode : pickExplanation(explanation),
  }
}

/** The status a task ends with when it fails with this error (before its subtasks are considered). */
export function failureOutcome(error: unknown): EndStatus {
  if (isInterruption(error)) return 'interrupted'
  return explainError(error)?.outcome === 'skipped' ? 'skipped' : 'failure'
}

/** The runner's stop (directly, or as the cause of an AbortError thrown by a stream or fetch). */
export function isInterruption(error: unknown): boolean {
  for (let current = error, depth = 0; current != null && depth < 5; depth++) {
    if ((current as { code?: unknown }).code === 'INTERRUPTED') return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

function pickExplanation({ title, meaning, actions }: Explanation): LoggedError['explanation'] {
  return { title, meaning, actions: [...actions] }
}

function ownCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code !== '') return code
  if (error instanceof Error && error.name !== 'Error') return error.name
  return undefined
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  if (typeof error === 'string') return error
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}
