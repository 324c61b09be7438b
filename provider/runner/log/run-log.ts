import { mkdirSync } from 'node:fs'
import { type Clock, systemClock } from '../clock'
import { newRunId } from '../ids'
import { type LogEvent, RUN_LOG_FORMAT, RUN_LOG_VERSION, type RunProperties, TaskNames } from './events'
import { Journal } from './journal'
import { currentOwner } from './owner'
import { runFile, runsDir } from './paths'
import { type Recovery, recoverInterruptedRuns } from './recover'
import { createRedactor, type Redactor, redactDeep } from './redact'
import { RunStore } from './store'
import { type RunSummary, summarizeRun } from './summary'
import { TaskHandle } from './task'
import { RunTree, type TaskNode } from './tree'

export interface RunLogOptions {
  stateDir: string
  clock?: Clock
  /** Finished runs kept per job; older ones are deleted when a run of the job ends. Unlimited when absent. */
  keepRuns?: number
  /** Strings that must never be written (pool passwords); URL credentials are always masked. */
  secrets?: readonly string[]
  /** Shortest time between two `progress` values written to the file (every value is emitted in-process). */
  progressPersistMs?: number
  /** A run file cannot be written (disk full): the run goes on, in memory only. Default: print to stderr. */
  onWriteError?: (error: Error) => void
}

/** An event as subscribers receive it: the persisted event and the run it belongs to. */
export interface RunLogEvent {
  runId: string
  jobId: string
  event: LogEvent
}

export type RunLogListener = (event: RunLogEvent) => void

export type RunStart = Omit<RunProperties, 'runId'> & { runId?: string; properties?: Record<string, unknown> }

export class StateDirError extends Error {
  readonly code = 'STATE_DIR_UNUSABLE'
}

/**
 * The run log: one file of events per run (docs/runner.md, "Run log"), a task tree per run kept in
 * memory while it runs, and in-process events for the progress display and the status summary.
 */
export class RunLog {
  readonly store: RunStore
  readonly clock: Clock
  readonly #listeners = new Set<RunLogListener>()
  readonly #finishedListeners = new Set<(summary: RunSummary) => void>()
  readonly #secrets: Set<string>
  #redact: Redactor
  readonly #active = new Map<string, ActiveRun>()

  private constructor(readonly options: RunLogOptions) {
    this.store = new RunStore(options.stateDir)
    this.clock = options.clock ?? systemClock
    this.#secrets = new Set(options.secrets)
    this.#redact = createRedactor([...this.#secrets])
  }

  /**
   * Opens the run log of a state directory for writing: runs cut by a crash are ended `interrupted` first
   * and old runs pruned. Only the runner (one process per state directory) should open it.
   */
  static open(options: RunLogOptions): { runLog: RunLog; recovery: Recovery } {
    try {
      mkdirSync(runsDir(options.stateDir), { recursive: true, mode: 0o750 })
    } catch (error) {
      throw new StateDirError(
        `state directory ${options.stateDir} cannot hold the run log (${(error as Error).message}): check stateDir in the runner configuration`,
      )
    }
    const runLog = new RunLog(options)
    const recovery = recoverInterruptedRuns(runLog.store)
    if (options.keepRuns !== undefined) {
      for (const jobId of runLog.store.listJobs()) runLog.store.prune(jobId, options.keepRuns)
    }
    return { runLog, recovery }
  }

  /** Starts a run: its file, its header and its root task `backup run`. */
  start(run: RunStart): TaskHandle {
    const { properties: extra, ...known } = run
    const runId = run.runId ?? newRunId(this.clock.now())
    const properties: Record<string, unknown> = { ...extra, ...known, runId }
    const active = new ActiveRun(this, runId, run.jobId)
    this.#active.set(runId, active)
    active.emit({
      type: 'run',
      format: RUN_LOG_FORMAT,
      version: RUN_LOG_VERSION,
      runId,
      jobId: run.jobId,
      owner: currentOwner(),
      time: this.clock.now(),
    })
    return active.startTask(TaskNames.run, undefined, properties)
  }

  /** A secret learnt after opening (remote credentials read from the pool): masked from now on. */
  addSecret(secret: string): void {
    if (this.#secrets.has(secret)) return
    this.#secrets.add(secret)
    this.#redact = createRedactor([...this.#secrets])
  }

  /**
   * Calls `listener` with the summary of every run that ends, once its file is complete (the job status
   * record is updated from it). Returns the unsubscribe function.
   */
  onRunFinished(listener: (summary: RunSummary) => void): () => void {
    this.#finishedListeners.add(listener)
    return () => this.#finishedListeners.delete(listener)
  }

  /** Calls `listener` with every event of every run, as it happens. Returns the unsubscribe function. */
  subscribe(listener: RunLogListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** The live tree of a run that has not ended. */
  activeRun(runId: string): RunTree | undefined {
    return this.#active.get(runId)?.tree
  }

  /** @internal */
  redact(value: LogEvent): LogEvent {
    return redactDeep(value, this.#redact)
  }

  /** @internal */
  redactor(): Redactor {
    return this.#redact
  }

  /** @internal */
  notify(event: RunLogEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch {
        // A display that throws must not stop a backup.
      }
    }
  }

  /** @internal */
  finished(run: ActiveRun, summary: RunSummary): void {
    this.#active.delete(run.runId)
    try {
      this.store.recordFinished(summary)
      if (this.options.keepRuns !== undefined) this.store.prune(run.jobId, this.options.keepRuns)
    } catch (error) {
      this.writeError(error)
    }
    for (const listener of this.#finishedListeners) {
      try {
        listener(summary)
      } catch (error) {
        this.writeError(error)
      }
    }
  }

  /** @internal */
  writeError(error: unknown): void {
    const reported = error instanceof Error ? error : new Error(String(error))
    if (this.options.onWriteError !== undefined) this.options.onWriteError(reported)
    else console.error(`xcp-backup: ${reported.message}`)
  }
}

/** One run being written. @internal */
export class ActiveRun {
  readonly tree = new RunTree()
  readonly journal: Journal
  #nextTaskId = 1

  constructor(
    readonly runLog: RunLog,
    readonly runId: string,
    readonly jobId: string,
  ) {
    this.journal = new Journal(runFile(runLog.store.stateDir, jobId, runId), (error) => runLog.writeError(error))
  }

  emit(event: LogEvent, options: { persist?: boolean; sync?: boolean } = {}): void {
    const safe = this.runLog.redact(event)
    this.tree.apply(safe)
    if (options.persist !== false) this.journal.append(safe)
    if (options.sync === true) this.journal.sync()
    this.runLog.notify({ runId: this.runId, jobId: this.jobId, event: safe })
  }

  startTask(name: string, parent: TaskHandle | undefined, properties: Record<string, unknown>): TaskHandle {
    const id = parent === undefined ? this.runId : String(this.#nextTaskId++)
    this.emit({ type: 'start', id, parent: parent?.id, name, properties, time: this.runLog.clock.now() })
    return new TaskHandle(this, this.tree.tasks.get(id)!, parent)
  }

  ended(root: TaskNode): void {
    if (root !== this.tree.root) return
    this.journal.close()
    this.runLog.finished(this, summarizeRun(this.tree))
  }
}
