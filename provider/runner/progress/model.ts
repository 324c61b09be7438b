import type { EndEvent, LogEvent, LoggedError, Progress, TaskStatus } from '../log/events'
import { progressSchema, TaskNames } from '../log/events'

/**
 * What the progress display knows about one run, folded from its events: the run, and per VM its
 * current step, bytes and rate. Pure: times come from the events.
 */

/** Rates are measured over this much of the recent past. */
const RATE_WINDOW_MS = 10_000

export interface TaskView {
  id: string
  name: string
  label: string
  parent: string | undefined
  /** The `backup VM` task this task belongs to, if any. */
  vm: string | undefined
  status: TaskStatus
  start: number
  end?: number
  result?: unknown
  error?: LoggedError
  progress?: Progress
  /** Recent (time, done) samples of `progress`, for the rate. */
  samples: { time: number; done: number }[]
}

export interface VmView {
  id: string
  name: string
  vmUuid: string
  status: TaskStatus
  start: number
  end?: number
  error?: LoggedError
}

export class ProgressModel {
  runId: string | undefined
  jobName = ''
  scheduleName = ''
  mode = ''
  start: number | undefined
  end: number | undefined
  status: TaskStatus = 'pending'
  error: LoggedError | undefined
  readonly tasks = new Map<string, TaskView>()
  readonly vms = new Map<string, VmView>()
  /** Bytes of finished transfers. */
  transferred = 0

  apply(event: LogEvent): void {
    switch (event.type) {
      case 'run':
        this.runId = event.runId
        return
      case 'start':
        this.started(event.id, event.parent, event.name, event.properties, event.time)
        return
      case 'property': {
        const task = this.tasks.get(event.id)
        if (task === undefined || event.name !== 'progress') return
        const progress = progressSchema.safeParse(event.value)
        if (!progress.success) return
        task.progress = progress.data
        task.samples.push({ time: event.time, done: progress.data.done })
        while (task.samples.length > 2 && task.samples[0]!.time < event.time - RATE_WINDOW_MS) task.samples.shift()
        return
      }
      case 'end':
        this.ended(event)
        return
      default:
        return
    }
  }

  /** Bytes per second of a task over the recent window, or undefined before two samples. */
  rate(task: TaskView): number | undefined {
    const first = task.samples[0]
    const last = task.samples.at(-1)
    if (first === undefined || last === undefined || last.time <= first.time) return undefined
    return ((last.done - first.done) * 1000) / (last.time - first.time)
  }

  /** The steps a VM is in now, outermost first ("export nas", "transfer"). */
  currentSteps(vmId: string): TaskView[] {
    const steps: TaskView[] = []
    let parent = vmId
    for (;;) {
      const child = [...this.tasks.values()]
        .filter((task) => task.parent === parent && task.status === 'pending')
        .at(-1)
      if (child === undefined) return steps
      steps.push(child)
      parent = child.id
    }
  }

  /** The path of a task below its VM (or the run): "export nas › transfer". */
  path(task: TaskView): string {
    const labels: string[] = []
    for (
      let current: TaskView | undefined = task;
      current !== undefined;
      current = this.tasks.get(current.parent ?? '')
    ) {
      if (current.name === TaskNames.vm || current.parent === undefined) break
      labels.unshift(current.label)
    }
    return labels.join(' › ')
  }

  vmCounts(): Record<TaskStatus, number> {
    const counts: Record<TaskStatus, number> = { pending: 0, success: 0, failure: 0, skipped: 0, interrupted: 0 }
    for (const vm of this.vms.values()) counts[vm.status]++
    return counts
  }

  private started(
    id: string,
    parent: string | undefined,
    name: string,
    properties: Record<string, unknown>,
    time: number,
  ): void {
    if (parent === undefined) {
      this.start = time
      this.jobName = String(properties.jobName ?? '')
      this.scheduleName = String(properties.scheduleName ?? '')
      this.mode = String(properties.mode ?? '')
    }
    const parentTask = parent === undefined ? undefined : this.tasks.get(parent)
    const vm = name === TaskNames.vm ? id : parentTask?.vm
    this.tasks.set(id, {
      id,
      name,
      label: labelOf(name, properties),
      parent,
      vm,
      status: 'pending',
      start: time,
      samples: [],
    })
    if (name === TaskNames.vm) {
      const vmUuid = String(properties.vmUuid ?? '')
      this.vms.set(id, { id, name: String(properties.name_label ?? vmUuid), vmUuid, status: 'pending', start: time })
    }
  }

  private ended(event: EndEvent): void {
    const task = this.tasks.get(event.id)
    if (task === undefined) return
    task.status = event.status
    task.end = event.time
    task.result = event.result
    task.error = event.error
    if (task.name === TaskNames.transfer && event.status === 'success') {
      const size = (event.result as { size?: unknown } | undefined)?.size
      if (typeof size === 'number') this.transferred += size
    }
    const vm = this.vms.get(event.id)
    if (vm !== undefined) Object.assign(vm, { status: event.status, end: event.time, error: event.error })
    if (task.parent === undefined) {
      this.status = event.status
      this.end = event.time
      this.error = event.error
    }
  }
}

/** "export nas" for an export to the remote nas; other tasks by name. */
function labelOf(name: string, properties: Record<string, unknown>): string {
  if (name === TaskNames.export && typeof properties.id === 'string') return `${name} ${properties.id}`
  return name
}

/** The first error in a VM's subtree, for a one-line reason. */
export function vmError(model: ProgressModel, vm: VmView): LoggedError | undefined {
  if (vm.error !== undefined) return vm.error
  return [...model.tasks.values()].find((task) => task.vm === vm.id && task.error !== undefined)?.error
}
