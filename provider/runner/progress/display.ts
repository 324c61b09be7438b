import type { Writable } from 'node:stream'
import { type Cancel, type Clock, systemClock } from '../clock'
import { TaskNames } from '../log/events'
import type { RunLog, RunLogEvent } from '../log/run-log'
import { ProgressModel } from './model'
import { PlainRenderer } from './plain'
import { eraseLines, renderBlock } from './tty'

export interface ProgressDisplayOptions {
  /** The run to show; default: the first run that starts after subscribing. */
  runId?: string
  output: Writable & { isTTY?: boolean; columns?: number }
  /** tty: a live block redrawn in place; plain: one line per change; auto (default): tty when output is a terminal. */
  mode?: 'tty' | 'plain' | 'auto'
  timeZone?: string
  clock?: Clock
  /** Terminal redraws at most this often. */
  redrawMs?: number
}

export interface ProgressDisplay {
  /** Settles when the run has ended and its summary is printed. */
  done: Promise<void>
  /** Stops listening (the block is left as it is). */
  detach(): void
}

/** Shows one run's progress as its events arrive (`xcp-backup run`). */
export function attachProgressDisplay(runLog: RunLog, options: ProgressDisplayOptions): ProgressDisplay {
  const mode =
    options.mode === 'auto' || options.mode === undefined ? (options.output.isTTY ? 'tty' : 'plain') : options.mode
  const model = new ProgressModel()
  const plain = new PlainRenderer({ timeZone: options.timeZone })
  const clock = options.clock ?? systemClock
  let runId = options.runId
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    finish = resolve
  })
  const write = (lines: string[]) => {
    if (lines.length > 0) options.output.write(`${lines.join('\n')}\n`)
  }

  // Terminal: permanent lines (VM endings, warnings) go above the block, which is redrawn in place.
  let blockLines = 0
  let redraw: Cancel | undefined
  const draw = (permanent: string[], final: boolean) => {
    redraw?.()
    redraw = undefined
    const block = final ? [] : renderBlock(model, clock.now(), options.output.columns ?? 120)
    options.output.write(eraseLines(blockLines) + [...permanent, ...block].map((line) => `${line}\n`).join(''))
    blockLines = block.length
  }

  const onEvent = ({ runId: eventRunId, event }: RunLogEvent) => {
    if (runId === undefined && event.type === 'run') runId = eventRunId
    if (eventRunId !== runId) return
    model.apply(event)
    const lines = plain.render(event, model)
    const isRunEnd = event.type === 'end' && model.tasks.get(event.id)?.parent === undefined
    if (mode === 'plain') {
      write(lines)
    } else {
      const task = event.type === 'end' || event.type === 'warning' ? model.tasks.get(event.id) : undefined
      const permanent =
        task !== undefined && (task.name === TaskNames.vm || event.type === 'warning' || isRunEnd) ? lines : []
      if (permanent.length > 0 || isRunEnd) draw(permanent, isRunEnd)
      else redraw ??= clock.setTimeout(() => draw([], false), options.redrawMs ?? 250)
    }
    if (isRunEnd) {
      unsubscribe()
      finish()
    }
  }
  const unsubscribe = runLog.subscribe(onEvent)
  return {
    done,
    detach: () => {
      redraw?.()
      unsubscribe()
    },
  }
}
