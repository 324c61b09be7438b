import { z } from 'zod'
import { ownerSchema, runPropertiesSchema, TaskNames, taskStatusSchema } from './events'
import type { RunTree, TaskNode } from './tree'

/**
 * One line about a run: what the index keeps, what `xcp-backup logs` lists and what the job status
 * record is built from. Bounded in size whatever the number of VMs.
 */

/** Problems listed per run; the rest are counted. */
export const MAX_LISTED_ERRORS = 10

export const vmCountsSchema = z.object({
  success: z.number().int(),
  failure: z.number().int(),
  skipped: z.number().int(),
  interrupted: z.number().int(),
})
export type VmCounts = z.output<typeof vmCountsSchema>

export const errorDigestSchema = z.object({
  /** The VM's name_label; absent for errors of the job itself (a remote that cannot be opened). */
  vm: z.string().optional(),
  vmUuid: z.string().optional(),
  code: z.string(),
  title: z.string(),
})
export type ErrorDigest = z.output<typeof errorDigestSchema>

export const runSummarySchema = runPropertiesSchema.extend({
  start: z.number(),
  end: z.number().optional(),
  status: taskStatusSchema,
  vmCounts: vmCountsSchema,
  /** Failed, skipped or interrupted VMs and job-level errors, at most MAX_LISTED_ERRORS. */
  errors: z.array(errorDigestSchema).max(MAX_LISTED_ERRORS),
  /** How many more there were. */
  moreErrors: z.number().int().nonnegative(),
  /** Bytes transferred (sum of `transfer` results' `size`). */
  size: z.number().nonnegative(),
  owner: ownerSchema.optional(),
})
export type RunSummary = z.output<typeof runSummarySchema>

export function summarizeRun(tree: RunTree): RunSummary {
  const root = tree.root
  if (root === undefined || tree.header === undefined) throw new TypeError('a run without a root task')
  const properties = runPropertiesSchema.parse(root.properties)
  const vms = lastAttempts(root.tasks.filter((task) => task.name === TaskNames.vm))
  const vmCounts: VmCounts = { success: 0, failure: 0, skipped: 0, interrupted: 0 }
  const errors: ErrorDigest[] = []
  // The job's own errors (JOB_ALREADY_RUNNING, NO_VMS_MATCH, a remote that cannot be opened), then the VMs'.
  if (root.error !== undefined) errors.push({ code: root.error.code, title: root.error.explanation.title })
  for (const task of root.tasks) {
    if (task.name === TaskNames.vm || !hasProblem(task)) continue
    const error = ownOrFirstError(task)
    if (error !== undefined) errors.push({ code: error.code, title: error.explanation.title })
  }
  for (const vm of vms) {
    if (vm.status === 'pending') continue
    vmCounts[vm.status]++
    const error = hasProblem(vm) ? ownOrFirstError(vm) : undefined
    if (error !== undefined) {
      errors.push({
        vm: String(vm.properties.name_label ?? vm.properties.vmUuid ?? ''),
        vmUuid: typeof vm.properties.vmUuid === 'string' ? vm.properties.vmUuid : undefined,
        code: error.code,
        title: error.explanation.title,
      })
    }
  }
  const summary: RunSummary = {
    ...properties,
    start: root.start,
    status: root.status,
    vmCounts,
    errors: errors.slice(0, MAX_LISTED_ERRORS),
    moreErrors: Math.max(0, errors.length - MAX_LISTED_ERRORS),
    size: transferred(root),
    owner: tree.header.owner,
  }
  if (root.end !== undefined) summary.end = root.end
  return summary
}

/** The last attempt of each VM (a retried VM has several `backup VM` tasks). */
function lastAttempts(vms: TaskNode[]): TaskNode[] {
  const byVm = new Map<unknown, TaskNode>()
  for (const vm of vms) byVm.set(vm.properties.vmUuid ?? vm.id, vm)
  return [...byVm.values()]
}

function hasProblem(task: TaskNode): boolean {
  return task.status !== 'success' && task.status !== 'pending'
}

/** The task's own error, else the first one below it (depth first): the cause a reader looks for. */
export function ownOrFirstError(task: TaskNode): TaskNode['error'] {
  if (task.error !== undefined) return task.error
  for (const child of task.tasks) {
    if (!hasProblem(child)) continue
    const found = ownOrFirstError(child)
    if (found !== undefined) return found
  }
  return undefined
}

function transferred(task: TaskNode): number {
  let size = 0
  if (task.name === TaskNames.transfer && task.status === 'success') {
    const result = task.result as { size?: unknown } | undefined
    if (typeof result?.size === 'number') size += result.size
  }
  for (const child of task.tasks) size += transferred(child)
  return size
}
