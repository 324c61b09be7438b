import { formatBytes, formatElapsed } from './format'
import type { ProgressModel } from './model'
import { vmError } from './model'

/** The closing lines of a run: its status, VM counts, bytes, and each problem with what to do first. */
export function renderSummary(model: ProgressModel): string[] {
  const counts = model.vmCounts()
  const total = model.vms.size
  const parts = (['success', 'failure', 'skipped', 'interrupted'] as const)
    .filter((status) => counts[status] > 0)
    .map((status) => `${counts[status]} ${status}`)
  const duration =
    model.start !== undefined && model.end !== undefined ? ` in ${formatElapsed(model.end - model.start)}` : ''
  const vms = total === 0 ? 'no VM' : `${total} VM${total === 1 ? '' : 's'}: ${parts.join(', ')}`
  const lines = [`${model.jobName}: ${model.status}${duration}; ${vms}; ${formatBytes(model.transferred)} transferred`]
  if (model.error !== undefined) lines.push(...problem('job', model.error))
  for (const vm of model.vms.values()) {
    if (vm.status === 'success' || vm.status === 'pending') continue
    const error = vmError(model, vm)
    if (error !== undefined) lines.push(...problem(vm.name, error))
  }
  return lines
}

function problem(who: string, error: { code: string; explanation: { title: string; actions: string[] } }): string[] {
  const lines = [`  ${who}: ${error.code}: ${error.explanation.title}`]
  const first = error.explanation.actions[0]
  if (first !== undefined) lines.push(`    what to do: ${first} (more: xcp-backup explain ${error.code})`)
  return lines
}
