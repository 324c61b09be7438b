import type { Database } from '../db/database'
import { EPOCH, NULL_REF, xapiNow } from '../model/values'
import { taskCancelled, toXapiError, type XapiError } from '../rpc/errors'

/** What an operation running under a task can do with it. */
export interface TaskHandle {
  readonly ref: string
  /** Aborted by `task.cancel` (with TASK_CANCELLED) or a simulated XAPI restart. */
  readonly signal: AbortSignal
  setProgress(progress: number): void
  /** Throws TASK_CANCELLED [task] once the task has been asked to cancel. */
  throwIfCancelled(): void
}

export interface NewTask {
  /** A given uuid (SM names its "Garbage Collection" tasks itself); a fresh one by default. */
  readonly uuid?: string
  readonly label: string
  readonly description?: string
  readonly subtaskOf?: string
  readonly otherConfig?: Readonly<Record<string, string>>
}

/**
 * Task objects and their lifecycle, following XAPI's `TaskHelper`: created `pending` with progress 0,
 * then `success` (result = an XML-RPC value fragment, progress 1), `failure` (error_info) or
 * `cancelled`. `task.destroy` on a pending task only marks it; it is deleted when it completes.
 */
export class TaskManager {
  readonly #controllers = new Map<string, AbortController>()

  constructor(
    private readonly db: Database,
    /** The host tasks run on (`resident_on`): the pool master. */
    private readonly residentHost: () => string,
  ) {}

  create(task: NewTask): string {
    return this.db.create('task', {
      ...(task.uuid === undefined ? {} : { uuid: task.uuid }),
      name_label: task.label,
      name_description: task.description ?? '',
      created: xapiNow(),
      finished: EPOCH,
      status: 'pending',
      resident_on: this.residentHost(),
      progress: 0,
      type: '<none/>',
      result: '',
      error_info: [],
      allowed_operations: [],
      current_operations: {},
      other_config: { ...task.otherConfig },
      subtask_of: task.subtaskOf ?? NULL_REF,
      backtrace: '()',
    })
  }

  isPending(ref: string): boolean {
    const status = this.db.find('task', ref)?.status
    return status === 'pending' || status === 'cancelling'
  }

  /**
   * Runs `work` under the (pending) task `ref` and completes the task with its outcome: the encoded
   * result on success (undefined leaves `result` empty, as XAPI's HTTP handlers do), the XAPI error
   * on failure, `cancelled` on TASK_CANCELLED. Never rejects.
   */
  async run(ref: string, work: (task: TaskHandle) => Promise<string | undefined>): Promise<void> {
    const controller = new AbortController()
    this.#controllers.set(ref, controller)
    this.db.update('task', ref, { allowed_operations: ['cancel'] })
    const handle: TaskHandle = {
      ref,
      signal: controller.signal,
      setProgress: (progress) => {
        if (this.isPending(ref)) this.db.update('task', ref, { progress: Math.min(1, Math.max(0, progress)) })
      },
      throwIfCancelled: () => {
        if (controller.signal.aborted) throw toXapiError(controller.signal.reason)
      },
    }
    try {
      const result = await work(handle)
      this.succeed(ref, result)
    } catch (error) {
      const xapiError = toXapiError(error)
      if (xapiError.code === 'TASK_CANCELLED') this.markCancelled(ref)
      else this.fail(ref, xapiError)
    } finally {
      this.#controllers.delete(ref)
    }
  }

  succeed(ref: string, result?: string): void {
    if (!this.isPending(ref)) return
    this.#finish(ref, { status: 'success', progress: 1, ...(result === undefined ? {} : { result }) })
  }

  fail(ref: string, error: XapiError): void {
    if (!this.isPending(ref)) return
    const status = error.code === 'TASK_CANCELLED' ? 'cancelled' : 'failure'
    this.#finish(ref, { status, progress: 1, error_info: [error.code, ...error.params] })
  }

  /** XAPI's `TaskHelper.cancel`: the operation noticed the cancellation and stopped. */
  markCancelled(ref: string): void {
    if (!this.isPending(ref)) return
    this.#finish(ref, { status: 'cancelled', progress: 1 })
  }

  /** `task.cancel`: records who asked (`current_operations`) and aborts the running operation. */
  requestCancel(ref: string, byKey: string): void {
    this.db.get('task', ref)
    this.db.update('task', ref, { current_operations: { [byKey]: 'cancel' } })
    this.#controllers.get(ref)?.abort(taskCancelled(ref))
  }

  /** `task.destroy`: deletes a completed task; marks a pending one to be deleted when it completes. */
  destroy(ref: string): void {
    const task = this.db.get('task', ref)
    if (this.isPending(ref)) {
      const operations = task.current_operations as Readonly<Record<string, string>>
      this.db.update('task', ref, { current_operations: { ...operations, task: 'destroy' } })
    } else {
      this.db.destroy('task', ref)
    }
  }

  /**
   * What XAPI does to unfinished tasks when it starts (`Cancel_tasks.cancel_tasks_on_host`): their
   * operations stop and the tasks are destroyed. Returns the refs of the tasks it removed.
   */
  dropUnfinished(reason: XapiError): string[] {
    for (const controller of this.#controllers.values()) controller.abort(reason)
    this.#controllers.clear()
    const unfinished = this.db.filter('task', (task) => task.status === 'pending' || task.status === 'cancelling')
    for (const ref of unfinished) this.db.destroy('task', ref)
    return unfinished
  }

  #finish(ref: string, patch: Record<string, unknown>): void {
    this.db.update('task', ref, { ...patch, finished: xapiNow(), allowed_operations: [] })
    const operations = this.db.get('task', ref).current_operations as Readonly<Record<string, string>>
    if (Object.values(operations).includes('destroy')) this.db.destroy('task', ref)
  }
}
