import { failureOutcome, skipError, toLoggedError } from './errors'
import type { EndStatus, LogEvent, LoggedError, TaskStatus } from './events'
import type { ActiveRun } from './run-log'
import { deriveStatus } from './status'
import type { TaskNode } from './tree'

const DEFAULT_PROGRESS_PERSIST_MS = 5_000

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
