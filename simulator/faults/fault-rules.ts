import { z } from 'zod'

/** What an injected fault does to the call it hits. */
export const faultActionSchema = z.discriminatedUnion('kind', [
  /** Fail with this XAPI error (in the task for `Async.` calls unless `errorIn` is `response`). */
  z.object({ kind: z.literal('error'), code: z.string().min(1), params: z.array(z.string()).default([]) }),
  /** End the caller's session, then fail with SESSION_INVALID [session], as an expired session does. */
  z.object({ kind: z.literal('sessionInvalid') }),
  /** Reset the TCP connection (RST) instead of answering: the client sees ECONNRESET. */
  z.object({ kind: z.literal('cutConnection') }),
  /** Never finish until released through the control API, or cancelled (`task.cancel`). */
  z.object({ kind: z.literal('stuck') }),
  /** Only wait `delayMs`, then run normally. */
  z.object({ kind: z.literal('delay') }),
])

export const faultRuleSchema = z.object({
  /** `rpc` for API calls; `http` for the HTTP handlers (export/import), added with them. */
  channel: z.enum(['rpc', 'http']).default('rpc'),
  /**
   * Which calls: a method name (`VM.start` hits `VM.start` and `Async.VM.start`), an `Async.` name
   * (only the asynchronous form), or a glob with `*` (`VM.*`, `Async.*`, `*`). For `http`, a path.
   */
  method: z.string().min(1),
  /** Only calls that name this object (a ref among their parameters). */
  objectRef: z.string().optional(),
  /** The first matching call that is hit (1 = the next one). */
  nth: z.number().int().positive().default(1),
  /** How many matching calls are hit from the `nth` on. */
  times: z.union([z.number().int().positive(), z.literal('always')]).default(1),
  /** Wait this long before acting (inside the task for `Async.` calls: a slow task). */
  delayMs: z.number().int().nonnegative().default(0),
  /** Where an `error` lands for `Async.` calls: the task (the default, as a failing operation) or the call. */
  errorIn: z.enum(['task', 'response']).default('task'),
  action: faultActionSchema,
})

export type FaultRuleInput = z.input<typeof faultRuleSchema>
export type FaultRule = z.output<typeof faultRuleSchema>
export type FaultAction = FaultRule['action']

export interface FaultStatus {
  readonly id: string
  readonly rule: FaultRule
  /** Matching calls seen so far. */
  readonly seen: number
  /** Calls hit so far. */
  readonly hits: number
}
