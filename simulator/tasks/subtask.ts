import type { CallContext } from '../rpc/call-context'

/**
 * Runs part of an operation as a subtask of the call's task, as XAPI does for some steps (the
 * `VDI.snapshot`s of a `VM.snapshot`, for example): a task whose `subtask_of` is the caller's task,
 * completed with the outcome and then destroyed (XAPI drops subtasks when their context ends).
 * Errors propagate to the caller. Synchronous calls have no task: `work` then just runs.
 */
export async function runSubtask<T>(
  ctx: CallContext,
  label: string,
  work: (ctx: CallContext) => Promise<T>,
  encodeResult?: (value: T) => string,
): Promise<T> {
  const parent = ctx.task
  if (parent === undefined) return work(ctx)
  const { tasks } = ctx.core
  const ref = tasks.create({ label, subtaskOf: parent.ref })
  let outcome: { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown } | undefined
  await tasks.run(ref, async (task) => {
    try {
      const value = await work({ ...ctx, task, operationKey: ref, signal: AbortSignal.any([task.signal, ctx.signal]) })
      outcome = { ok: true, value }
      return encodeResult?.(value)
    } catch (error) {
      outcome = { ok: false, error }
      throw error
    }
  })
  if (ctx.core.db.exists('task', ref)) tasks.destroy(ref)
  if (outcome === undefined) throw new Error(`subtask ${label} ended without an outcome`)
  if (!outcome.ok) throw outcome.error
  return outcome.value
}
