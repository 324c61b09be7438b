import type { SimulatorCore } from '../core'
import { faultCheckpoint } from '../faults/fault-checkpoint'
import type { MatchedFault } from '../faults/fault-registry'
import { coerceValue, ValueTypeError, type XapiType } from '../model/types'
import { newRef } from '../model/values'
import type { Session } from '../session/session-store'
import { encodeValue } from '../wire/xmlrpc'
import { type CallContext, cancellableDelay } from './call-context'
import { internalError, toXapiError, XapiError } from './errors'
import type { MethodSpec } from './method'

export type DispatchOutcome =
  | { readonly kind: 'success'; readonly value: unknown; readonly type: XapiType }
  | { readonly kind: 'failure'; readonly error: XapiError }
  /** The call must get no answer: the connection is destroyed (an injected fault). */
  | { readonly kind: 'cutConnection' }

const TASK_REF_TYPE: XapiType = { kind: 'ref', cls: 'task' }

/**
 * Runs one API call the way XAPI's generated dispatcher does (`gen_server.ml`, `server_helpers.ml`):
 * strip `Async.`; unknown name → MESSAGE_METHOD_UNKNOWN (after a session check when there is a
 * first parameter); wrong arity → MESSAGE_PARAMETER_COUNT_MISMATCH (trailing defaults may be
 * omitted); parameters converted to their types; removed method → MESSAGE_REMOVED after the session
 * check; bad session → SESSION_INVALID; `Async.` on a method without an async form → `Fault`;
 * then the method runs, under a new task for `Async.` calls.
 */
export interface DispatchOptions {
  /** The host name the client addressed (HTTP `Host` header without the port). */
  readonly requestHost?: string
}

export async function dispatch(
  core: SimulatorCore,
  wireName: string,
  params: readonly unknown[],
  options: DispatchOptions = {},
): Promise<DispatchOutcome> {
  try {
    return await dispatchOrThrow(core, wireName, params, options)
  } catch (error) {
    if (!(error instanceof XapiError)) core.log(`internal error in ${wireName}: ${describe(error)}`)
    return { kind: 'failure', error: toXapiError(error) }
  }
}

async function dispatchOrThrow(
  core: SimulatorCore,
  wireName: string,
  params: readonly unknown[],
  options: DispatchOptions,
): Promise<DispatchOutcome> {
  const isAsync = wireName.startsWith('Async.') || wireName.startsWith('InternalAsync.')
  const name = isAsync ? wireName.slice(wireName.indexOf('.') + 1) : wireName
  const spec = core.methods.find(name)
  if (spec === undefined) {
    if (params.length > 0) core.sessions.require(params[0])
    throw new XapiError('MESSAGE_METHOD_UNKNOWN', [name])
  }

  const received = params.length - (spec.session ? 1 : 0)
  const required = spec.params.filter((param) => !param.optional).length
  const hasDefaults = required < spec.params.length
  if (hasDefaults ? received < required : received !== required) {
    throw new XapiError('MESSAGE_PARAMETER_COUNT_MISMATCH', [name, String(required), String(received)])
  }
  const wireArgs = spec.session ? params.slice(1) : params
  const args = spec.params.map((param, i) => {
    const value = i < wireArgs.length ? wireArgs[i] : param.defaultValue
    try {
      return coerceValue(value, param.type, `parameter ${param.name} of ${name}`)
    } catch (error) {
      if (error instanceof ValueTypeError) {
        throw internalError(`Invalid value for ${isSecret(name, param.name) ? error.redactedMessage : error.message}`)
      }
      throw error
    }
  })

  const session = spec.session ? core.sessions.require(params[0]) : undefined
  if (spec.removed) throw new XapiError('MESSAGE_REMOVED', [])
  if (isAsync && !spec.async) throw new XapiError('Fault', [`No async mode for this operation (rpc: ${name})`])

  const fault = core.faults.match({ channel: 'rpc', wireName, name, refs: refsIn(args) })
  if (fault !== undefined) {
    const { action } = fault.rule
    if (action.kind === 'cutConnection') return { kind: 'cutConnection' }
    if (action.kind === 'sessionInvalid') {
      const sessionRef = typeof params[0] === 'string' ? params[0] : ''
      core.sessions.invalidate(sessionRef)
      throw new XapiError('SESSION_INVALID', [sessionRef])
    }
    if (isAsync && action.kind === 'error' && fault.rule.errorIn === 'response') {
      if (fault.rule.delayMs > 0) await cancellableDelay(fault.rule.delayMs, core.lifetime.signal)
      throw new XapiError(action.code, action.params)
    }
  }

  if (!isAsync) {
    const value = await execute(
      {
        core,
        method: name,
        session,
        task: undefined,
        operationKey: newRef(),
        signal: core.lifetime.signal,
        requestHost: options.requestHost,
      },
      spec,
      args,
      fault,
    )
    return { kind: 'success', value: spec.result.kind === 'void' ? '' : value, type: spec.result }
  }

  const taskRef = startAsync(core, wireName, spec, args, session, fault, options)
  return { kind: 'success', value: taskRef, type: TASK_REF_TYPE }
}

/** Creates the task of an `Async.` call and runs the method under it in the background. */
function startAsync(
  core: SimulatorCore,
  wireName: string,
  spec: MethodSpec,
  args: readonly unknown[],
  session: Session | undefined,
  fault: MatchedFault | undefined,
  options: DispatchOptions,
): string {
  const taskRef = core.tasks.create({ label: wireName })
  const lifetime = core.lifetime.signal
  void core.tasks.run(taskRef, async (task) => {
    const context = {
      core,
      method: spec.name,
      session,
      task,
      operationKey: taskRef,
      signal: AbortSignal.any([task.signal, lifetime]),
      requestHost: options.requestHost,
    }
    const value = await execute(context, spec, args, fault)
    return encodeValue(spec.result.kind === 'void' ? '' : value, spec.result, core.recordTypes)
  })
  return taskRef
}

/**
 * Runs the method body, counted by the operation probe. An injected error fails the call before the
 * body runs; injected delays and stalls happen at the body's checkpoint (see `CallContext.checkpoint`).
 */
async function execute(
  context: Omit<CallContext, 'checkpoint'>,
  spec: MethodSpec,
  args: readonly unknown[],
  fault: MatchedFault | undefined,
): Promise<unknown> {
  const end = context.core.probe.begin(spec.name)
  const checkpoint = faultCheckpoint(context.core, fault, context.signal)
  try {
    if (fault?.rule.action.kind === 'error') {
      if (fault.rule.delayMs > 0) await cancellableDelay(fault.rule.delayMs, context.signal)
      throw new XapiError(fault.rule.action.code, fault.rule.action.params)
    }
    const value = await spec.handler({ ...context, checkpoint }, args)
    await checkpoint()
    return value
  } finally {
    end()
  }
}

/** Parameters whose values must never appear in an error (passwords, secret values). */
function isSecret(method: string, param: string): boolean {
  return /pwd|password/i.test(param) || (method.startsWith('secret.') && param !== 'self')
}

/** The object refs a call names (for faults aimed at one object). */
function refsIn(values: readonly unknown[]): string[] {
  const refs: string[] = []
  const visit = (value: unknown) => {
    if (typeof value === 'string') {
      if (value.startsWith('OpaqueRef:')) refs.push(value)
    } else if (Array.isArray(value)) value.forEach(visit)
  }
  values.forEach(visit)
  return refs
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error)
}
