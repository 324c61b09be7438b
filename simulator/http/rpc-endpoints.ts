import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SimulatorCore } from '../core'
import { LIST_METHODS } from '../methods/system'
import { dispatch } from '../rpc/dispatcher'
import {
  formatJsonRpcFailure,
  formatJsonRpcSuccess,
  type JsonRpcRequest,
  MalformedJsonRpcRequest,
  parseJsonRpcRequest,
} from '../wire/jsonrpc'
import {
  decodeMethodCall,
  encodeBareResponse,
  encodeFailureResponse,
  encodeSuccessResponse,
  encodeValue,
  type MethodCall,
} from '../wire/xmlrpc'
import { readTextBody, requestHostName } from './body'
import type { HttpRouter } from './router'

/** XAPI answers a request it cannot read with its HTTP server's 500 page. */
function internalServerError(response: ServerResponse, reason: string): void {
  const body = `<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.<h1> Additional information </h1>${escapeHtml(reason)}</body></html>`
  response.writeHead(500, {
    'content-type': 'text/html',
    connection: 'close',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
}

function escapeHtml(text: string): string {
  return text.replace(/[<>&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&amp;'))
}

function send(response: ServerResponse, contentType: string, body: string): void {
  response.writeHead(200, {
    'content-type': contentType,
    'access-control-allow-origin': '*',
    'access-control-allow-headers': 'X-Requested-With',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
}

/** `POST /jsonrpc`. The content type must be exactly `application/json` or the client falls back to XML-RPC. */
export function jsonRpcEndpoint(core: SimulatorCore) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    let call: JsonRpcRequest
    try {
      call = parseJsonRpcRequest(await readTextBody(request))
    } catch (error) {
      if (error instanceof MalformedJsonRpcRequest) return internalServerError(response, error.message)
      throw error
    }
    const outcome = await dispatch(core, call.method, call.params, { requestHost: requestHostName(request) })
    if (outcome.kind === 'cutConnection') {
      request.socket.resetAndDestroy()
      return
    }
    const body =
      outcome.kind === 'success'
        ? formatJsonRpcSuccess(call, outcome.value)
        : formatJsonRpcFailure(call, outcome.error.code, outcome.error.params)
    send(response, 'application/json', body)
  }
}

/** XML-RPC on `POST /` and every POST path no other handler claims (the client posts to `/xmlrpc`). */
export function xmlRpcEndpoint(core: SimulatorCore) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    let call: MethodCall
    try {
      call = decodeMethodCall(await readTextBody(request))
    } catch (error) {
      if (error instanceof Error && error.name === 'XmlSyntaxError') return internalServerError(response, error.message)
      throw error
    }
    const outcome = await dispatch(core, call.methodName, call.params, { requestHost: requestHostName(request) })
    if (outcome.kind === 'cutConnection') {
      request.socket.resetAndDestroy()
      return
    }
    let body: string
    if (outcome.kind === 'failure') {
      body = encodeFailureResponse(outcome.error.code, outcome.error.params)
    } else {
      const value = encodeValue(outcome.value, outcome.type, core.recordTypes)
      body = call.methodName === LIST_METHODS ? encodeBareResponse(value) : encodeSuccessResponse(value)
    }
    send(response, 'text/xml', body)
  }
}

export function registerRpcEndpoints(router: HttpRouter, core: SimulatorCore): void {
  router.register('POST', '/jsonrpc', jsonRpcEndpoint(core))
  router.register('POST', '/', xmlRpcEndpoint(core))
}
