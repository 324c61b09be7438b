/**
 * An XAPI API error: `code` and string `params`, exactly what goes on the wire
 * (`ErrorDescription` in XML-RPC, `error` in JSON-RPC, `error_info` in a task).
 */
export class XapiError extends Error {
  readonly code: string
  readonly params: readonly string[]

  constructor(code: string, params: readonly string[] = []) {
    super(`${code}(${params.join(', ')})`)
    this.name = 'XapiError'
    this.code = code
    this.params = params
  }
}

/** XAPI's catch-all for failures that are not API errors (`ExnHelper.error_of_exn`). */
export function internalError(message: string): XapiError {
  return new XapiError('INTERNAL_ERROR', [message])
}

export function handleInvalid(cls: string, ref: string): XapiError {
  return new XapiError('HANDLE_INVALID', [cls, ref])
}

export function uuidInvalid(cls: string, uuid: string): XapiError {
  return new XapiError('UUID_INVALID', [cls, uuid])
}

export function sessionInvalid(sessionRef: string): XapiError {
  return new XapiError('SESSION_INVALID', [sessionRef])
}

export function taskCancelled(taskRef: string): XapiError {
  return new XapiError('TASK_CANCELLED', [taskRef])
}

export function operationNotAllowed(reason: string): XapiError {
  return new XapiError('OPERATION_NOT_ALLOWED', [reason])
}

/** Any thrown value as an XAPI error, the way XAPI reports unexpected exceptions. */
export function toXapiError(error: unknown): XapiError {
  if (error instanceof XapiError) return error
  if (error instanceof Error) return internalError(error.message)
  return internalError(String(error))
}
