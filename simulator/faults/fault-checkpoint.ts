import type { SimulatorCore } from '../core'
import { cancellableDelay } from '../rpc/call-context'
import type { MatchedFault } from './fault-registry'

/**
 * The checkpoint of one call (see `CallContext.checkpoint`): the first time it is reached, it waits
 * the fault's `delayMs` and, for a `stuck` fault, until the call is released or cancelled.
 */
export function faultCheckpoint(
  core: SimulatorCore,
  fault: MatchedFault | undefined,
  signal: AbortSignal,
): () => Promise<void> {
  let reached = false
  return async () => {
    if (reached || fault === undefined) return
    reached = true
    if (fault.rule.delayMs > 0) await cancellableDelay(fault.rule.delayMs, signal)
    if (fault.rule.action.kind === 'stuck') await core.faults.waitWhileStuck(fault.id, signal)
  }
}
