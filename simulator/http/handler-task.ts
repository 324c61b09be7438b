import type { IncomingMessage } from 'node:http'
import type { SimulatorCore } from '../core'
import { faultCheckpoint } from '../faults/fault-checkpoint'
import type { MatchedFault } from '../faults/fault-registry'
import { ROOT_USER } from '../methods/session'
import type { CallContext } from '../rpc/call-context'
import type { Session } from '../session/session-store'

/**
 * What XAPI's HTTP handlers (`/export`, `/import_raw_vdi`, ...) share: their credentials and their
 * task. The storage integration builds its handlers on these.
 */

/**
 * The session a handler request carries: `session_id` in the query or the cookie, else HTTP Basic
 * credentials of root (XAPI logs such a request in). Undefined means: answer 401, as XAPI does,
 * leaving any `task_id` task pending.
 */
export function handlerSession(core: SimulatorCore, request: IncomingMessage, url: URL): Session | undefined {
  const cookie = /(?:^|;\s*)session_id=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]
  const sessionRef = url.searchParams.get('session_id') ?? cookie
  if (sessionRef !== null && sessionRef !== undefined) return core.sessions.find(sessionRef)
  const authorization = request.headers.authorization
  if (!authorization?.startsWith('Basic ')) return undefined
  const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (decoded.slice(0, colon) !== ROOT_USER || decoded.slice(colon + 1) !== core.password) return undefined
  return core.sessions.create(ROOT_USER, core.masterRef(), 'http')
}

/**
 * The task a handler runs under: the caller's `task_id` when it names a task, else a new one
 * (XAPI creates one). Either way the handler must complete it, with {@link runHandlerTask}.
 */
export function handlerTaskRef(core: SimulatorCore, url: URL, label: string): string {
  const taskId = url.searchParams.get('task_id')
  if (taskId !== null && core.db.exists('task', taskId)) return taskId
  return core.tasks.create({ label })
}

/**
 * The fault scripted for this handler request, if any (rules of channel `http`; `method` is
 * matched against the path, such as `/export_raw_vdi`).
 */
export function matchHandlerFault(
  core: SimulatorCore,
  path: string,
  refs: readonly string[],
): MatchedFault | undefined {
  return core.faults.match({ channel: 'http', wireName: path, name: path, refs })
}

/**
 * Runs a handler's work under its task and completes the task with the outcome (result fragment,
 * error or cancellation). The work gets a call context like a method's: the task, a signal aborted
 * by `task.cancel`, and a checkpoint where the request's fault (delay, stall) takes effect. The
 * promise settles when the task is complete; it never rejects.
 */
export function runHandlerTask(
  core: SimulatorCore,
  taskRef: string,
  session: Session,
  work: (ctx: CallContext) => Promise<string | undefined>,
  fault?: MatchedFault,
): Promise<void> {
  return core.tasks.run(taskRef, (task) => {
    const signal = AbortSignal.any([task.signal, core.lifetime.signal])
    return work({
      core,
      method: 'http',
      session,
      task,
      operationKey: taskRef,
      signal,
      requestHost: undefined,
      checkpoint: faultCheckpoint(core, fault, signal),
    })
  })
}
