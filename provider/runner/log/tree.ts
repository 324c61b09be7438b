import { z } from 'zod'
import {
  type EndEvent,
  type LogEvent,
  loggedErrorSchema,
  type RunHeader,
  runHeaderSchema,
  type StartEvent,
  taskStatusSchema,
} from './events'

/**
 * A run's task tree, folded from its events. The writer keeps one live and the readers rebuild one from
 * the file through the same `apply`, so both always agree.
 */

export const logEntrySchema = z.object({ message: z.string(), data: z.unknown().optional(), time: z.number() })
export type LogEntry = z.output<typeof logEntrySchema>

const taskNodeShape = {
  id: z.string(),
  name: z.string(),
  properties: z.record(z.string(), z.unknown()),
  start: z.number(),
  end: z.number().optional(),
  status: taskStatusSchema,
  result: z.unknown().optional(),
  error: loggedErrorSchema.optional(),
  infos: z.array(logEntrySchema),
  warnings: z.array(logEntrySchema),
}

export interface TaskNode extends z.output<z.ZodObject<typeof taskNodeShape>> {
  tasks: TaskNode[]
}

export const taskNodeSchema: z.ZodType<TaskNode> = z.object({
  ...taskNodeShape,
  get tasks() {
    return z.array(taskNodeSchema)
  },
})

export class RunLogFormatError extends Error {
  readonly code = 'RUN_LOG_CORRUPT'
}

export class RunTree {
  header: RunHeader | undefined
  root: TaskNode | undefined
  readonly tasks = new Map<string, TaskNode>()
  /** Time of the last event: when a run cut by a crash was last known alive. */
  lastTime = 0

  /** Adds one event; throws RunLogFormatError when it does not fit the tree (unknown task, second root). */
  apply(event: LogEvent): void {
    this.lastTime = Math.max(this.lastTime, event.time)
    switch (event.type) {
      case 'run':
        if (this.header !== undefined) throw new RunLogFormatError('a second run header')
        this.header = runHeaderSchema.parse(event)
        return
      case 'start':
        this.start(event)
        return
      case 'info':
      case 'warning': {
        const task = this.task(event.id)
        const entry: LogEntry = { message: event.message, time: event.time }
        if (event.data !== undefined) entry.data = event.data
        ;(event.type === 'info' ? task.infos : task.warnings).push(entry)
        return
      }
      case 'property':
        this.task(event.id).properties[event.name] = event.value
        return
      case 'end':
        this.end(event)
        return
    }
  }

  /** Tasks without an end, deepest first (children before their parents). */
  pendingTasks(): TaskNode[] {
    const pending: TaskNode[] = []
    const visit = (task: TaskNode) => {
      for (const child of task.tasks) visit(child)
      if (task.status === 'pending') pending.push(task)
    }
    if (this.root !== undefined) visit(this.root)
    return pending
  }

  private start(event: StartEvent): void {
    if (this.tasks.has(event.id)) throw new RunLogFormatError(`task ${event.id} started twice`)
    const task: TaskNode = {
      id: event.id,
      name: event.name,
      properties: { ...event.properties },
      start: event.time,
      status: 'pending',
      infos: [],
      warnings: [],
      tasks: [],
    }
    if (event.parent === undefined) {
      if (this.root !== undefined) throw new RunLogFormatError(`task ${event.id} is a second root`)
      this.root = task
    } else {
      this.task(event.parent).tasks.push(task)
    }
    this.tasks.set(event.id, task)
  }

  private end(event: EndEvent): void {
    const task = this.task(event.id)
    if (task.status !== 'pending') throw new RunLogFormatError(`task ${event.id} ended twice`)
    task.status = event.status
    task.end = event.time
    if (event.result !== undefined) task.result = event.result
    if (event.error !== undefined) task.error = event.error
  }

  private task(id: string): TaskNode {
    const task = this.tasks.get(id)
    if (task === undefined) throw new RunLogFormatError(`event for task ${id}, which never started`)
    return task
  }
}
