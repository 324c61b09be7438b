import type { SimulatorCore } from '../core'
import type { Session } from '../session/session-store'
import type { TaskHandle } from '../tasks/task-manager'
import { toXapiError } from './errors'

/** What a method handler gets besides its arguments. */
export interface CallContext {
  readonly core: SimulatorCore
  /** Name without `Async.` (`VM.start`). */
  readonly method: string
  /** The caller's session (undefined for methods that take none). */
  readonly session: Session | undefined
  /** The task of an `Async.` call, or of an HTTP handler given a `task_id`. */
  readonly task: TaskHandle | undefined
  /**
   * Key of this call in `current_operations` maps: its task ref for `Async.` calls, a fresh ref for
   * synchronous calls (XAPI uses its internal per-call task there).
   */
  readonly operationKey: string
  /** Aborted when the call's task is cancelled or the simulated XAPI restarts. */
  readonly signal: AbortSignal
  /** The host name the client addressed (from the HTTP `Host` header), when known. */
  readonly requestHost: string | undefined
  /**
   * Marks the point where a long operation spends its time (after its checks, with its
   * `current_operations` entry in place). Injected delays and stalls happen here; when a handler
   * never calls it, they happen once the handler is done, before the call or task completes.
   */
  checkpoint(): Promise<void>
}

/** Throws TASK_CANCELLED (or the abort reason) when the call has been cancelled. */
export function throwIfCancelled(ctx: CallContext): void {
  if (ctx.signal.aborted) throw toXapiError(ctx.signal.reason)
}

/** Waits `ms`, or rejects with the abort reason when the call is cancelled meanwhile. */
export function cancellableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(toXapiError(signal.reason))
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(toXapiError(signal.reason))
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
