import type { EndStatus, TaskStatus } from './events'

/**
 * How a task's status follows from its own outcome and its subtasks', as XO computes it
 * (xo-server `backups-ng-logs.mjs`), with `interrupted` placed between failure and skipped:
 *
 * 1. a task that itself failed or was interrupted keeps that status;
 * 2. otherwise a failed subtask makes it `failure`, except a failed attempt that was retried: a subtask
 *    carrying a warning with `isRetry: true` followed by a successful sibling with the same name and
 *    identity (`vmUuid`, else `id` property);
 * 3. otherwise an interrupted subtask makes it `interrupted`;
 * 4. otherwise a skipped subtask, or its own skip, makes it `skipped` (XO: one VM skipped for chain
 *    protection makes the whole run skipped when nothing failed);
 * 5. otherwise `success`.
 */
export interface StatusInput {
  name: string
  status: TaskStatus
  properties: Record<string, unknown>
  warnings: readonly { data?: unknown }[]
}

const RANK: Record<EndStatus, number> = { success: 0, skipped: 1, interrupted: 2, failure: 3 }

export function deriveStatus(own: EndStatus, subtasks: readonly StatusInput[]): EndStatus {
  if (own === 'failure' || own === 'interrupted') return own
  let status: EndStatus = own
  for (const [index, task] of subtasks.entries()) {
    const childStatus = task.status === 'pending' ? 'interrupted' : task.status
    if (childStatus === 'failure' && wasRetriedSuccessfully(task, subtasks.slice(index + 1))) continue
    if (RANK[childStatus] > RANK[status]) status = childStatus
  }
  return status
}

function wasRetriedSuccessfully(failed: StatusInput, later: readonly StatusInput[]): boolean {
  const retried = failed.warnings.some((warning) => (warning.data as { isRetry?: unknown } | undefined)?.isRetry)
  if (!retried) return false
  const identity = identityOf(failed)
  return later.some((task) => task.status === 'success' && task.name === failed.name && identityOf(task) === identity)
}

function identityOf(task: StatusInput): unknown {
  return task.properties.vmUuid ?? task.properties.id
}
