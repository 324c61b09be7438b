import type { SimulatorCore } from '../../core'
import type { MatchedFault } from '../../faults/fault-registry'
import { cancellableDelay } from '../../rpc/call-context'
import { XapiError } from '../../rpc/errors'

/**
 * Scripted faults of disk transfers (rules of channel `http`), applied to the body as it flows: a
 * failure after N bytes, XAPI's error page inside a 200 body, a reset connection, a stall, a slow link.
 */

/** How a transfer ends early because of a fault; the handler decides what the client sees. */
export class TransferFault extends Error {
  constructor(
    readonly kind: 'error' | 'errorInBody' | 'cut',
    readonly error: XapiError,
  ) {
    super(`${kind}: ${error.message}`)
  }
}

/** The error a transfer reports when its data cannot move (vhd-tool's failures all become this). */
export function deviceIoError(): XapiError {
  return new XapiError('VDI_IO_ERROR', ['Device I/O errors'])
}

export interface TransferPlan {
  /** Fail before the 200 status (an `error` or `cutConnection` rule without a position). */
  readonly beforeHeaders?: TransferFault
  /** Where in the body the fault takes effect, and what it does there. */
  readonly at?: {
    readonly position: number
    readonly action: 'error' | 'errorInBody' | 'cut' | 'stuck'
    readonly error: XapiError
  }
  readonly bytesPerSecond?: number
  /** The rule, for stalls (released through the control API). */
  readonly fault?: MatchedFault
}

/** The plan of a matched rule; `blockPosition(n)` turns `afterBlocks` into bytes (absent: not supported here). */
export function transferPlan(
  fault: MatchedFault | undefined,
  blockPosition?: (blocks: number) => number,
): TransferPlan {
  if (fault === undefined) return {}
  const { rule } = fault
  const position =
    rule.afterBytes ??
    (rule.afterBlocks !== undefined && blockPosition !== undefined ? blockPosition(rule.afterBlocks) : undefined)
  const { action } = rule
  switch (action.kind) {
    case 'error': {
      const error = new XapiError(action.code, action.params)
      return position === undefined
        ? { beforeHeaders: new TransferFault('error', error), fault }
        : { at: { position, action: 'error', error }, fault }
    }
    case 'httpErrorInBody':
      return {
        at: { position: position ?? 0, action: 'errorInBody', error: new XapiError(action.code, action.params) },
        fault,
      }
    case 'cutConnection':
      return position === undefined
        ? { beforeHeaders: new TransferFault('cut', deviceIoError()), fault }
        : { at: { position, action: 'cut', error: deviceIoError() }, fault }
    case 'stuck':
      return { at: { position: position ?? 0, action: 'stuck', error: deviceIoError() }, fault }
    case 'throttle':
      return { bytesPerSecond: action.bytesPerSecond, fault }
    default:
      return { fault }
  }
}

/**
 * The bytes of `source` as the plan lets them through: paced at `bytesPerSecond`, stalled at a `stuck`
 * position until released or cancelled, or ended at the fault's position with a {@link TransferFault}
 * after exactly the bytes before it.
 */
export async function* faultedBytes(
  core: SimulatorCore,
  source: AsyncIterable<Buffer>,
  plan: TransferPlan,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  const started = Date.now()
  let position = 0
  let stalled = false
  const at = plan.at
  for await (const chunk of source) {
    let data = chunk
    if (at !== undefined && !stalled && position + data.length >= at.position) {
      const before = data.subarray(0, at.position - position)
      if (before.length > 0) {
        position += before.length
        yield before
      }
      if (at.action !== 'stuck') throw new TransferFault(at.action, at.error)
      stalled = true
      if (plan.fault !== undefined) await core.faults.waitWhileStuck(plan.fault.id, signal)
      data = data.subarray(before.length)
      if (data.length === 0) continue
    }
    position += data.length
    if (plan.bytesPerSecond !== undefined) {
      const due = started + (position / plan.bytesPerSecond) * 1000
      if (due > Date.now()) await cancellableDelay(due - Date.now(), signal)
    }
    yield data
  }
  // A fault at the very end of a body (or at 0 of an empty one) still happens.
  if (at !== undefined && !stalled && at.action !== 'stuck' && position >= at.position) {
    throw new TransferFault(at.action, at.error)
  }
}
