import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import type { SimulatorCore } from '../core'
import { faultRuleSchema } from '../faults/fault-rules'
import { formatIssuePath } from '../fixtures/fixture-schema'
import { BodyTooLargeError, readTextBody } from '../http/body'
import type { HttpRouter } from '../http/router'
import { DiskTargetSchema } from '../integration/guest-disks'
import { SimulatorKnobsPatchSchema } from '../integration/integration-knobs'
import { ROOT_USER } from '../methods/session'
import { XapiError } from '../rpc/errors'
import type { SimulatorControlApi } from './control-api'
import { ChangeSchema, GcRequestSchema, PatternSchema } from './storage-control'

/** Path prefix of the control API. */
export const CONTROL_PREFIX = '/sim/'

class ControlRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  response.end(body)
}

/** Root's password (HTTP Basic), or a live session (`session_id` query or `X-Session-Id` header). */
function isAuthorized(core: SimulatorCore, request: IncomingMessage, url: URL): boolean {
  const authorization = request.headers.authorization
  if (authorization?.startsWith('Basic ')) {
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (decoded.slice(0, colon) === ROOT_USER && decoded.slice(colon + 1) === core.password) return true
  }
  const header = request.headers['x-session-id']
  const session = url.searchParams.get('session_id') ?? (typeof header === 'string' ? header : undefined)
  return session !== undefined && core.sessions.find(session) !== undefined
}

async function readJson<T>(request: IncomingMessage, schema: z.ZodType<T>, limit = 2 ** 20): Promise<T> {
  const text = await readTextBody(request, limit)
  let json: unknown
  try {
    json = text === '' ? {} : JSON.parse(text)
  } catch {
    throw new ControlRequestError(400, 'the body is not JSON')
  }
  const result = schema.safeParse(json)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${formatIssuePath(issue.path) || '(body)'}: ${issue.message}`)
    throw new ControlRequestError(400, problems.join('; '))
  }
  return result.data
}

const ruleIdBody = z.object({ ruleId: z.string().optional() })
const diskWriteBody = z.object({
  target: DiskTargetSchema,
  offset: z.number().int().nonnegative(),
  /** The bytes, base64. */
  data: z.base64(),
})
const diskPatternBody = z.object({ target: DiskTargetSchema, pattern: PatternSchema })
const diskChangeBody = z.object({ target: DiskTargetSchema, change: ChangeSchema })
const diskReadBody = z.object({
  target: DiskTargetSchema,
  offset: z.number().int().nonnegative(),
  length: z
    .number()
    .int()
    .nonnegative()
    .max(64 * 2 ** 20),
})
const diskTargetBody = z.object({ target: DiskTargetSchema })
const masterBody = z.object({ masterAddress: z.string().min(1) })
const sessionBody = z.object({ sessionRef: z.string().optional() })

/** Serves {@link SimulatorControlApi} as JSON under `/sim/` (see docs/simulator.md for the routes). */
export function registerControlEndpoints(router: HttpRouter, core: SimulatorCore, control: SimulatorControlApi): void {
  router.register('*', CONTROL_PREFIX, async (request, response, url) => {
    try {
      if (!isAuthorized(core, request, url)) {
        throw new ControlRequestError(401, 'give root and the simulator password (HTTP Basic) or a session_id')
      }
      const route = `${request.method} ${url.pathname.replace(/\/+$/, '')}`
      const faultId = /^DELETE \/sim\/faults\/([^/]+)$/.exec(route)?.[1]
      const gcSr = /^POST \/sim\/srs\/([^/]+)\/gc$/.exec(route)?.[1]
      let result: unknown
      if (faultId !== undefined) result = { removed: await control.removeFault(decodeURIComponent(faultId)) }
      else if (gcSr !== undefined) {
        result = await control.gc(decodeURIComponent(gcSr), await readJson(request, GcRequestSchema))
      } else {
        switch (route) {
          case 'GET /sim/info':
            result = await control.info()
            break
          case 'GET /sim/faults':
            result = await control.listFaults()
            break
          case 'POST /sim/faults':
            result = { id: await control.addFault(await readJson(request, faultRuleSchema)) }
            break
          case 'DELETE /sim/faults':
            await control.clearFaults()
            result = {}
            break
          case 'POST /sim/faults/release':
            result = { released: await control.releaseStuck((await readJson(request, ruleIdBody)).ruleId) }
            break
          case 'PUT /sim/host-is-slave':
            await control.setHostIsSlave((await readJson(request, masterBody)).masterAddress)
            result = {}
            break
          case 'DELETE /sim/host-is-slave':
            await control.setHostIsSlave(undefined)
            result = {}
            break
          case 'POST /sim/sessions/invalidate':
            result = {
              invalidated: await control.invalidateSessions((await readJson(request, sessionBody)).sessionRef),
            }
            break
          case 'POST /sim/restart-xapi':
            result = await control.restartXapi()
            break
          case 'GET /sim/operations':
            result = await control.operationStats()
            break
          case 'DELETE /sim/operations':
            await control.resetOperationStats()
            result = {}
            break
          case 'POST /sim/flush':
            await control.flush()
            result = {}
            break
          case 'POST /sim/disks/write': {
            // Guest writes carry their bytes in base64: up to 64 MiB of data.
            const body = await readJson(request, diskWriteBody, 90 * 2 ** 20)
            await control.writeDisk(body.target, body.offset, Buffer.from(body.data, 'base64'))
            result = {}
            break
          }
          case 'POST /sim/disks/pattern': {
            const body = await readJson(request, diskPatternBody)
            await control.writePattern(body.target, body.pattern)
            result = {}
            break
          }
          case 'POST /sim/disks/change': {
            const body = await readJson(request, diskChangeBody)
            result = { blocks: await control.changeBlocks(body.target, body.change) }
            break
          }
          case 'POST /sim/disks/read': {
            const body = await readJson(request, diskReadBody)
            result = { data: (await control.readDisk(body.target, body.offset, body.length)).toString('base64') }
            break
          }
          case 'POST /sim/disks/digest':
            result = await control.diskDigest((await readJson(request, diskTargetBody)).target)
            break
          case 'GET /sim/knobs':
            result = await control.knobs()
            break
          case 'PUT /sim/knobs':
            result = await control.setKnobs(await readJson(request, SimulatorKnobsPatchSchema))
            break
          case 'GET /sim/snapshots':
            result = await control.snapshotStats()
            break
          default:
            throw new ControlRequestError(404, `no control route ${route}`)
        }
      }
      sendJson(response, 200, result)
    } catch (error) {
      if (error instanceof ControlRequestError) sendJson(response, error.status, { error: error.message })
      else if (error instanceof BodyTooLargeError) sendJson(response, 400, { error: `(body): ${error.message}` })
      else if (error instanceof XapiError) {
        const missing = error.code === 'HANDLE_INVALID' || error.code === 'UUID_INVALID'
        sendJson(response, missing ? 404 : 400, { error: `${error.code}: ${error.params.join(', ')}` })
      } else throw error
    }
  })
}
