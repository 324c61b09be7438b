import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SimulatorCore } from '../../core'
import type { MatchedFault } from '../../faults/fault-registry'
import type { CallContext } from '../../rpc/call-context'
import { toXapiError, XapiError } from '../../rpc/errors'
import type { Session } from '../../session/session-store'
import { handlerSession, handlerTaskRef, runHandlerTask } from '../handler-task'
import { deviceIoError, TransferFault } from './transfer-faults'
import { sendErrorStatus } from './xapi-responses'

/**
 * The task side of XAPI's disk transfer handlers: the caller's `task_id` (or a new task) is completed
 * in every outcome, including the ones answered before the 200 status.
 */

export interface OpenedTransfer {
  readonly session: Session
  readonly task: string
}

/** Credentials and task of a handler request; on bad credentials answers 401 and fails the task. */
export function openTransfer(
  core: SimulatorCore,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  label: string,
): OpenedTransfer | undefined {
  const session = handlerSession(core, request, url)
  if (session === undefined) {
    // Only a task the caller made is failed; none is created for a request that cannot log in.
    const callerTask = url.searchParams.get('task_id')
    if (callerTask !== null && core.db.exists('task', callerTask)) {
      core.tasks.fail(callerTask, new XapiError('SESSION_AUTHENTICATION_FAILED', []))
    }
    request.resume()
    sendErrorStatus(response, 401)
    return undefined
  }
  return { session, task: handlerTaskRef(core, url, label) }
}

/** A failure before the 200 status: the task fails with it, the client gets `status`. */
export function failBeforeTransfer(
  core: SimulatorCore,
  response: ServerResponse,
  task: string,
  error: unknown,
  status: 400 | 403 | 404 | 500 = 500,
): void {
  const xapiError = toXapiError(error)
  core.tasks.fail(task, xapiError)
  sendErrorStatus(response, status, `${xapiError.code}(${xapiError.params.join(', ')})`)
}

/**
 * Runs the transfer under its task (counted by the operation probe as `http:<path>`) and returns what
 * it failed with, if anything (a {@link TransferFault} fails the task with its XAPI error); the task is
 * complete when this resolves.
 */
export async function runTransfer(
  core: SimulatorCore,
  path: string,
  opened: OpenedTransfer,
  fault: MatchedFault | undefined,
  work: (ctx: CallContext) => Promise<string | undefined>,
): Promise<unknown> {
  const end = core.probe.begin(`http:${path}`)
  // A stall happens in the body (see `faultedBytes`), not at the checkpoint; only the delay stays there.
  const checkpointFault: MatchedFault | undefined =
    fault?.rule.action.kind === 'stuck' ? { ...fault, rule: { ...fault.rule, action: { kind: 'delay' } } } : fault
  let failure: unknown
  try {
    await runHandlerTask(
      core,
      opened.task,
      opened.session,
      async (ctx) => {
        try {
          return await work(ctx)
        } catch (error) {
          failure = error
          throw error instanceof TransferFault ? error.error : error
        }
      },
      checkpointFault,
    )
  } finally {
    end()
  }
  return failure
}

/** Writes a chunk to the response with backpressure; a response the client closed fails the transfer. */
export async function writeChunk(response: ServerResponse, chunk: Uint8Array, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw toXapiError(signal.reason)
  if (response.destroyed || response.writableEnded) throw deviceIoError()
  if (response.write(chunk)) return
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: unknown) => {
      response.off('drain', onDrain)
      response.off('close', onClose)
      signal.removeEventListener('abort', onAbort)
      if (error === undefined) resolve()
      else reject(error)
    }
    const onDrain = () => settle()
    const onClose = () => settle(deviceIoError())
    const onAbort = () => settle(toXapiError(signal.reason))
    response.on('drain', onDrain)
    response.on('close', onClose)
    signal.addEventListener('abort', onAbort)
  })
}

/**
 * Reports bytes moved as task progress, in steps of 1 % (each step is a database change and an event),
 * below 1: the task reaches 1 when it completes.
 */
export function progressReporter(ctx: CallContext, total: number): (bytes: number) => void {
  let done = 0
  let reported = 0
  return (bytes) => {
    done += bytes
    const progress = total > 0 ? Math.min(0.99, done / total) : 0
    if (progress - reported >= 0.01) {
      reported = progress
      ctx.task?.setProgress(progress)
    }
  }
}

type RefusalStatus = 400 | 403 | 404 | 500

/** An error answered before the transfer starts with this HTTP status instead of 500. */
export function refusal(error: XapiError, status: RefusalStatus): XapiError & { status: RefusalStatus } {
  return Object.assign(error, { status })
}

/** The status a failure before the transfer is answered with. */
export function statusOf(error: unknown): RefusalStatus {
  return (error as { status?: RefusalStatus }).status ?? 500
}
