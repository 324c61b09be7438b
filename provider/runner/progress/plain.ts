import type { LogEvent } from '../log/events'
import { TaskNames } from '../log/events'
import { formatBytes, formatClock, formatElapsed, formatRate } from './format'
import type { ProgressModel, TaskView } from './model'
import { renderSummary } from './summary'

/**
 * Plain progress, for CI logs and pipes: one line per change, never redrawn. Transfers print a line each
 * time they pass another tenth of their size (or another GiB when the size is unknown).
 */
export class PlainRenderer {
  /** Per task, the last progress step printed. */
  readonly #printedSteps = new Map<string, number>()

  constructor(private readonly options: { timeZone?: string } = {}) {}

  /** The lines an event adds, given the model after the event. */
  render(event: LogEvent, model: ProgressModel): string[] {
    const at = formatClock(event.time, this.options.timeZone)
    const line = (text: string) => `[${at}] ${text}`
    switch (event.type) {
      case 'run':
        return []
      case 'start': {
        const task = model.tasks.get(event.id)!
        if (task.parent === undefined) {
          return [
            line(
              `${model.jobName} (schedule ${model.scheduleName}, ${model.mode}): run ${model.runId ?? event.id} started`,
            ),
          ]
        }
        return [line(`${this.who(model, task)}: ${task.name === TaskNames.vm ? 'started' : model.path(task)}`)]
      }
      case 'info':
      case 'warning': {
        const task = model.tasks.get(event.id)
        if (task === undefined) return []
        return [line(`${this.who(model, task)}: ${event.type === 'warning' ? 'warning: ' : ''}${event.message}`)]
      }
      case 'property': {
        const task = model.tasks.get(event.id)
        if (task === undefined || event.name !== 'progress' || task.progress === undefined) return []
        return this.progressLine(model, task).map(line)
      }
      case 'end': {
        const task = model.tasks.get(event.id)
        if (task === undefined) return []
        if (task.parent === undefined) {
          const [first, ...rest] = renderSummary(model)
          return [line(first!), ...rest]
        }
        return [line(`${this.who(model, task)}: ${this.ending(model, task)}`)]
      }
    }
  }

  private progressLine(model: ProgressModel, task: TaskView): string[] {
    const { done, total } = task.progress!
    const step = total !== undefined && total > 0 ? Math.floor((done / total) * 10) : Math.floor(done / 2 ** 30)
    if (step <= (this.#printedSteps.get(task.id) ?? 0)) return []
    this.#printedSteps.set(task.id, step)
    const amount =
      total !== undefined && total > 0
        ? `${Math.floor((done / total) * 100)}% ${formatBytes(done)} / ${formatBytes(total)}`
        : formatBytes(done)
    const rate = model.rate(task)
    return [
      `${this.who(model, task)}: ${model.path(task)} ${amount}${rate === undefined ? '' : `, ${formatRate(rate)}`}`,
    ]
  }

  private ending(model: ProgressModel, task: TaskView): string {
    const label = task.name === TaskNames.vm ? task.status : `${model.path(task)}: ${task.status}`
    const duration = formatElapsed((task.end ?? task.start) - task.start)
    if (task.error !== undefined && task.status !== 'success') {
      return `${label}: ${task.error.code}: ${task.error.explanation.title} (${duration})`
    }
    const size = (task.result as { size?: unknown } | undefined)?.size
    if (task.name === TaskNames.transfer && typeof size === 'number') {
      const seconds = ((task.end ?? task.start) - task.start) / 1000
      const rate = seconds > 0 ? `, ${formatRate(size / seconds)}` : ''
      return `${label}, ${formatBytes(size)} in ${duration}${rate}`
    }
    return `${label} (${duration})`
  }

  private who(model: ProgressModel, task: TaskView): string {
    if (task.vm === undefined) return model.jobName
    return model.vms.get(task.vm)?.name ?? model.jobName
  }
}
