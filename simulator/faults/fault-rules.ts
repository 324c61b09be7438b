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
  /**
   * HTTP handlers only: answer 200, then put XAPI's `HTTP/1.1 500` error page in the body (at
   * `afterBytes`, default 0) and fail the task with this error (a known XAPI behaviour).
   */
  z.object({
    kind: z.literal('httpErrorInBody'),
    code: z.string().min(1).default('INTERNAL_ERROR'),
    params: z.array(z.string()).default([]),
  }),
  /** HTTP handlers only: move the body at this rate (a slow export or import). */
  z.object({ kind: z.literal('throttle'), bytesPerSecond: z.number().positive() }),
])

const HTTP_ONLY_ACTIONS = new Set(['httpErrorInBody', 'throttle'])

export const faultRuleSchema = z
  .object({
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
    /**
     * HTTP handlers only: the action takes effect after this many body bytes were sent (exports) or
     * received (imports): `error` and `httpErrorInBody` truncate there, `cutConnection` resets the
     * connection there, `stuck` stalls there. Without it, `error` and `cutConnection` act before the
     * response headers.
     */
    afterBytes: z.number().int().nonnegative().optional(),
    /** `/export_raw_vdi` only: like `afterBytes`, after this many whole disk blocks of the body. */
    afterBlocks: z.number().int().nonnegative().optional(),
    action: faultActionSchema,
  })
  .superRefine((rule, ctx) => {
    if (rule.channel === 'http') return
    if (HTTP_ONLY_ACTIONS.has(rule.action.kind)) {
      ctx.addIssue({ code: 'custom', path: ['action', 'kind'], message: `${rule.action.kind} needs channel "http"` })
    }
    for (const field of ['afterBytes', 'afterBlocks'] as const) {
      if (rule[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'needs channel "http"' })
    }
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
