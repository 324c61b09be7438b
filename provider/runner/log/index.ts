/**
 * The run log: what each run did, as a task tree of events written as they happen (docs/runner.md).
 */

export * from './document'
export { failureOutcome, InterruptedError, isInterruption, RunError, toLoggedError } from './errors'
export * from './events'
export * from './job-status'
export { currentOwner, ownerMayBeAlive } from './owner'
export { runFile } from './paths'
export { readRunFile } from './read'
export { type Recovery, recoverInterruptedRuns } from './recover'
export { createRedactor, type Redactor } from './redact'
export * from './render'
export {
  RunLog,
  type RunLogEvent,
  type RunLogListener,
  type RunLogOptions,
  type RunStart,
  StateDirError,
} from './run-log'
export { deriveStatus, type StatusInput } from './status'
export * from './store'
export * from './summary'
export { TaskHandle } from './task'
export * from './tree'
