/**
 * JSON-RPC as XAPI speaks it (mirage/ocaml-rpc `jsonrpc.ml`, XAPI `api_server.ml`): version 1 when
 * the request has no `jsonrpc` member, 2 when it is "2.0"; the id is echoed and must be an integer or
 * a string (no notifications). Version 2 errors are `{code: 1, message: CODE, data: [params]}`.
 */
export interface JsonRpcRequest {
  readonly version: 1 | 2
  readonly id: number | string
  readonly method: string
  readonly params: readonly unknown[]
}

/** A request XAPI refuses to read; the HTTP layer answers 500 like XAPI's HTTP server. */
export class MalformedJsonRpcRequest extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MalformedJsonRpcRequest'
  }
}

export function parseJsonRpcRequest(body: string): JsonRpcRequest {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch (error) {
    throw new MalformedJsonRpcRequest(`body is not JSON: ${(error as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new MalformedJsonRpcRequest('Invalid request body')
  }
  const request = json as Record<string, unknown>
  if (typeof request.method !== 'string') throw new MalformedJsonRpcRequest("Invalid field 'method' in request body")
  let version: 1 | 2
  if (request.jsonrpc === undefined) version = 1
  else if (request.jsonrpc === '2.0') version = 2
  else throw new MalformedJsonRpcRequest("Invalid field 'jsonrpc' in request body")
  let params: readonly unknown[]
  if (version === 1) {
    if (request.params === undefined) throw new MalformedJsonRpcRequest('Required field params is missing')
    if (!Array.isArray(request.params)) throw new MalformedJsonRpcRequest("Invalid field 'params' in request body")
    params = request.params
  } else if (request.params === undefined || request.params === null) {
    params = []
  } else if (Array.isArray(request.params)) {
    params = request.params
  } else if (typeof request.params === 'object') {
    params = [request.params]
  } else {
    throw new MalformedJsonRpcRequest("Invalid field 'params' in request body")
  }
  const { id } = request
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id)))) {
    throw new MalformedJsonRpcRequest("Invalid field 'id' in request body")
  }
  return { version, id, method: request.method, params }
}

export function formatJsonRpcSuccess(request: JsonRpcRequest, result: unknown): string {
  return request.version === 1
    ? JSON.stringify({ result, error: null, id: request.id })
    : JSON.stringify({ jsonrpc: '2.0', result, id: request.id })
}

export function formatJsonRpcFailure(request: JsonRpcRequest, code: string, params: readonly string[]): string {
  return request.version === 1
    ? JSON.stringify({ result: null, error: [code, ...params], id: request.id })
    : JSON.stringify({ jsonrpc: '2.0', error: { code: 1, message: code, data: params }, id: request.id })
}
