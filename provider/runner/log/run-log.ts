import { mkdirSync } from 'node:fs'
import { type Clock, systemClock } from '../clock'
import { newRunId } from '../ids'
import { failureOutcome, skipError, toLoggedError } from './errors'
import {
  type EndStatus,
  type LogEvent,
  type LoggedError,
  RUN_LOG_FORMAT,
  RUN_LOG_VERSION,
  type RunProperties,
  TaskNames,
  type TaskStatus,
} from './events'
import { Journal } from './journal'
import { currentOwner } from './owner'
import { runFile, runsDir } from './paths'
import { type Recovery, recoverInterruptedRuns } from './recover'
import { createRedactor, type Redactor, redactDeep } from './redact'
import { deriveStatus } from './status'
import { RunStore } from './store'
import { type RunSummary, summarizeRun } from './summary'
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

const DEFAULT_PROGRESS_PERSIST_MS = 5_000

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

/** One run being written. */
class ActiveRun {
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

/**
 * A task of a run: `backup run`, `backup VM`, `snapshot`, `export`, `transfer`... Ending a task ends
 * its pending subtasks as interrupted. Once a task has ended, calls on it and on its subtasks are
 * ignored, so a pipeline that outlives its run (it did not honour the abort signal) cannot damage the log.
 */
export class TaskHandle {
  #lastProgressWrite = Number.NEGATIVE_INFINITY
  #unwrittenProgress: { value: unknown; time: number } | undefined

  /** @internal */
  constructor(
    private readonly run: ActiveRun,
    private readonly node: TaskNode,
    private readonly parent: TaskHandle | undefined,
  ) {}

  get id(): string {
    return this.node.id
  }

  get name(): string {
    return this.node.name
  }

  get runId(): string {
    return this.run.runId
  }

  get jobId(): string {
    return this.run.jobId
  }

  get status(): TaskStatus {
    return this.node.status
  }

  /** True once this task or one of its ancestors has ended. */
  get closed(): boolean {
    return this.node.status !== 'pending' || (this.parent?.closed ?? false)
  }

  get properties(): Readonly<Record<string, unknown>> {
    return this.node.properties
  }

  /** Starts a subtask. On a closed task, returns a task that is already closed. */
  child(name: string, properties: Record<string, unknown> = {}): TaskHandle {
    if (this.closed) return new TaskHandle(this.run, closedNode(name, properties, this.now()), this)
    return this.run.startTask(name, this, properties)
  }

  /** Runs `work` as a subtask: it succeeds with the value `work` returns (through `result`) or fails with its error. */
  async task<T>(
    name: string,
    properties: Record<string, unknown>,
    work: (task: TaskHandle) => Promise<T>,
    result: (value: T) => unknown = () => undefined,
  ): Promise<T> {
    const task = this.child(name, properties)
    try {
      const value = await work(task)
      task.succeed(result(value))
      return value
    } catch (error) {
      task.fail(error)
      throw error
    }
  }

  info(message: string, data?: unknown): void {
    this.entry('info', message, data)
  }

  warning(message: string, data?: unknown): void {
    this.entry('warning', message, data)
  }

  setProperty(name: string, value: unknown): void {
    if (this.closed) return
    this.run.emit({ type: 'property', id: this.id, name, value, time: this.now() })
  }

  /**
   * Sets the `progress` property (`{done, total}`, in bytes for transfers). Every value is emitted
   * in-process; the file gets one every `progressPersistMs` and the last one before the task ends.
   */
  setProgress(done: number, total?: number): void {
    if (this.closed) return
    const value = total === undefined ? { done } : { done, total }
    const time = this.now()
    const persist = time - this.#lastProgressWrite >= this.progressPersistMs()
    this.run.emit({ type: 'property', id: this.id, name: 'progress', value, time }, { persist })
    if (persist) {
      this.#lastProgressWrite = time
      this.#unwrittenProgress = undefined
    } else {
      this.#unwrittenProgress = { value, time }
    }
  }

  /** Ends the task; its status still reflects its subtasks (a failed subtask makes it `failure`). */
  succeed(result?: unknown): EndStatus | undefined {
    return this.end('success', result, undefined)
  }

  /**
   * Ends the task with an error, recorded with its explanation. Errors whose explanation says `skipped`
   * (VDI chain protection, no VM matches) end it `skipped`; the runner's stop ends it `interrupted`.
   */
  fail(error: unknown): EndStatus | undefined {
    return this.end(failureOutcome(error), undefined, toLoggedError(error, this.run.runLog.redactor()))
  }

  /** Ends the task `skipped`, with a reason (a sentence, or an error), and a code when there is one. */
  skip(reason: unknown, code?: string): EndStatus | undefined {
    const error =
      typeof reason === 'string'
        ? skipError(reason, code, this.run.runLog.redactor())
        : toLoggedError(reason, this.run.runLog.redactor())
    return this.end('skipped', undefined, error)
  }

  /** Ends the task and its pending subtasks `interrupted` (the runner is stopping). */
  interrupt(error: unknown): EndStatus | undefined {
    return this.end('interrupted', undefined, toLoggedError(error, this.run.runLog.redactor()))
  }

  private end(own: EndStatus, result: unknown, error: LoggedError | undefined): EndStatus | undefined {
    if (this.closed) return undefined
    const interruption = error?.code === 'INTERRUPTED' ? error : undefined
    for (const child of this.node.tasks) {
      if (child.status === 'pending') this.endPending(child, interruption)
    }
    this.flushProgress()
    const status = deriveStatus(own, this.node.tasks)
    const event: LogEvent = { type: 'end', id: this.id, status, time: this.now() }
    if (result !== undefined) event.result = result
    if (error !== undefined) event.error = error
    this.run.emit(event, { sync: true })
    this.run.ended(this.node)
    return status
  }

  /** A subtask still running when its parent ends: it can no longer report, so it is interrupted. */
  private endPending(node: TaskNode, cause: LoggedError | undefined): void {
    for (const child of node.tasks) {
      if (child.status === 'pending') this.endPending(child, cause)
    }
    const error = cause ?? toLoggedError(abandoned(), this.run.runLog.redactor())
    this.run.emit({ type: 'end', id: node.id, status: 'interrupted', error, time: this.now() })
  }

  private entry(type: 'info' | 'warning', message: string, data: unknown): void {
    if (this.closed) return
    const event: LogEvent = { type, id: this.id, message, time: this.now() }
    if (data !== undefined) event.data = data
    this.run.emit(event)
  }

  private flushProgress(): void {
    const unwritten = this.#unwrittenProgress
    if (unwritten === undefined) return
    this.#unwrittenProgress = undefined
    const event: LogEvent = { type: 'property', id: this.id, name: 'progress', ...unwritten }
    this.run.journal.append(this.run.runLog.redact(event))
  }

  private now(): number {
    return this.run.runLog.clock.now()
  }

  private progressPersistMs(): number {
    return this.run.runLog.options.progressPersistMs ?? DEFAULT_PROGRESS_PERSIST_MS
  }
}

function abandoned(): Error {
  return Object.assign(new Error('this task was still running when the task above it ended'), { code: 'INTERRUPTED' })
}

function closedNode(name: string, properties: Record<string, unknown>, time: number): TaskNode {
  return {
    id: '',
    name,
    properties,
    start: time,
    end: time,
    status: 'interrupted',
    infos: [],
    warnings: [],
    tasks: [],
  }
}
