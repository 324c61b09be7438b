import { formatBytes, formatElapsed, formatRate } from './format'
import type { ProgressModel } from './model'

/**
 * The live block of a terminal: a header and one line per VM being backed up, redrawn in place. Lines
 * about finished VMs are printed once above it by the display, so the block stays small.
 */
export function renderBlock(model: ProgressModel, now: number, width = 120): string[] {
  const counts = model.vmCounts()
  const finished = model.vms.size - counts.pending
  const elapsed = model.start === undefined ? '' : ` ${formatElapsed(now - model.start)}`
  const header = `${model.jobName} (${model.scheduleName}, ${model.mode})${elapsed}: ${finished}/${model.vms.size} VMs done, ${formatBytes(model.transferred)} transferred`
  const lines = [header]
  for (const vm of model.vms.values()) {
    if (vm.status !== 'pending') continue
    const steps = model.currentSteps(vm.id)
    const current = steps.at(-1)
    let text = `  ${vm.name}  ${steps.map((step) => step.label).join(' › ') || 'starting'}`
    if (current?.progress !== undefined) {
      const { done, total } = current.progress
      text +=
        total !== undefined && total > 0
          ? `  ${formatBytes(done)} / ${formatBytes(total)} ${Math.floor((done / total) * 100)}%`
          : `  ${formatBytes(done)}`
      const rate = model.rate(current)
      if (rate !== undefined) text += `  ${formatRate(rate)}`
    }
    lines.push(text)
  }
  return lines.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line))
}

/** ANSI: go up `lines` lines to the start of the line, and clear to the end of the screen. */
export function eraseLines(lines: number): string {
  return lines === 0 ? '' : `\x1b[${lines}F\x1b[J`
}
