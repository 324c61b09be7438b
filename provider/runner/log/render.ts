import { formatBytes, formatDateTime, formatElapsed } from '../progress/format'
import { TaskNames } from './events'
import type { ListedRun } from './store'
import type { RunSummary } from './summary'
import type { LogEntry, TaskNode } from './tree'

/** Runs as `xcp-backup logs` prints them: a list of runs, or one run's tree with explained errors. */

export interface RenderOptions {
  timeZone?: string
  /** Instead of `pending`, say a run is interrupted when its writer is gone (see ListedRun.orphaned). */
  orphaned?: boolean
}

/** One line per run, newest first. */
export function renderRunList(runs: readonly ListedRun[], options: RenderOptions = {}): string[] {
  return runs.map(({ summary, orphaned }) => {
    const duration = summary.end !== undefined ? formatElapsed(summary.end - summary.start) : orphaned ? '-' : 'running'
    const vms = formatVmCounts(summary)
    return [
      summary.runId,
      formatDateTime(summary.start, options.timeZone),
      statusText(summary.status, orphaned).padEnd(11),
      duration.padEnd(8),
      summary.scheduleName,
      vms === '' ? '' : `(${vms})`,
      summary.size > 0 ? formatBytes(summary.size) : '',
    ]
      .filter((part) => part !== '')
      .join('  ')
  })
}

/** The whole tree of a run. */
export function renderRun(summary: RunSummary, root: TaskNode, options: RenderOptions = {}): string[] {
  const timeZone = options.timeZone
  const ended =
    summary.end === undefined
      ? options.orphaned
        ? 'never ended: the runner stopped during the run (it is recorded as interrupted when the runner starts again)'
        : 'still running'
      : `ended ${formatDateTime(summary.end, timeZone)} (${formatElapsed(summary.end - summary.start)})`
  const vms = formatVmCounts(summary)
  const lines = [
    `${summary.jobName} / ${summary.scheduleName} (${summary.mode})  run ${summary.runId}  ${statusText(summary.status, options.orphaned === true)}`,
    `  job ${summary.jobId}, schedule id ${summary.scheduleId}`,
    `  started ${formatDateTime(summary.start, timeZone)}, ${ended}`,
    `  VMs: ${vms === '' ? 'none' : vms}; ${formatBytes(summary.size)} transferred`,
    '',
  ]
  lines.push(...renderTask(root, '', '', options.orphaned === true))
  return lines
}

function renderTask(task: TaskNode, firstPrefix: string, restPrefix: string, orphaned: boolean): string[] {
  const lines = [`${firstPrefix}${taskLine(task, orphaned)}`]
  if (task.error !== undefined) {
    const { code, message, explanation } = task.error
    const detail = [
      `${code}: ${explanation.title}`,
      ...(message !== '' && message !== code ? [`  ${message}`] : []),
      `  ${explanation.meaning}`,
      '  What to do:',
      ...explanation.actions.map((action) => `    - ${action}`),
    ]
    const hasChildren = task.infos.length + task.warnings.length + task.tasks.length > 0
    for (const line of detail) lines.push(`${restPrefix}${hasChildren ? '│  ' : '   '}${line}`)
  }
  const children: ({ entry: LogEntry; kind: 'info' | 'warning' } | { task: TaskNode })[] = [
    ...[
      ...task.infos.map((entry) => ({ entry, kind: 'info' as const })),
      ...task.warnings.map((entry) => ({ entry, kind: 'warning' as const })),
    ].sort((a, b) => a.entry.time - b.entry.time),
    ...task.tasks.map((child) => ({ task: child })),
  ]
  for (const [index, child] of children.entries()) {
    const last = index === children.length - 1
    const first = `${restPrefix}${last ? '└─ ' : '├─ '}`
    const rest = `${restPrefix}${last ? '   ' : '│  '}`
    if ('task' in child) lines.push(...renderTask(child.task, first, rest, orphaned))
    else lines.push(`${first}${child.kind}: ${child.entry.message}${formatData(child.entry.data)}`)
  }
  return lines
}

function taskLine(task: TaskNode, orphaned: boolean): string {
  const parts = [taskLabel(task), statusText(task.status, orphaned)]
  if (task.end !== undefined) parts.push(formatElapsed(task.end - task.start))
  const size = (task.result as { size?: unknown } | undefined)?.size
  if (typeof size === 'number') parts.push(formatBytes(size))
  else if (typeof task.result === 'string') parts.push(`→ ${task.result}`)
  const progress = task.properties.progress as { done?: number; total?: number } | undefined
  if (task.status === 'pending' && typeof progress?.done === 'number') {
    parts.push(
      progress.total ? `${formatBytes(progress.done)} / ${formatBytes(progress.total)}` : formatBytes(progress.done),
    )
  }
  return parts.join('  ')
}

function taskLabel(task: TaskNode): string {
  const { properties } = task
  if (task.name === TaskNames.vm)
    return `${task.name} ${String(properties.name_label ?? '')} (${String(properties.vmUuid ?? '')})`
  if (task.name === TaskNames.export && typeof properties.id === 'string') return `${task.name} ${properties.id}`
  return task.name
}

function statusText(status: string, orphaned: boolean): string {
  return status === 'pending' && orphaned ? 'interrupted' : status
}

function formatVmCounts(summary: RunSummary): string {
  return (['success', 'failure', 'skipped', 'interrupted'] as const)
    .filter((status) => summary.vmCounts[status] > 0)
    .map((status) => `${summary.vmCounts[status]} ${status}`)
    .join(', ')
}

function formatData(data: unknown): string {
  if (data === undefined) return ''
  const text = JSON.stringify(data)
  return text.length > 200 ? ` ${text.slice(0, 199)}…` : ` ${text}`
}
