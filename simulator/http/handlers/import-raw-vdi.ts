import { bitmapBytes, parseVhdStream, VhdError } from '../../../provider/disk'
import type { StorageLink } from '../../integration/storage-link'
import { createVdi } from '../../integration/vdi-factory'
import { internalError, XapiError } from '../../rpc/errors'
import type { SrEngine } from '../../storage'
import { BLOCK_SIZE } from '../../storage/sizes'
import { matchHandlerFault } from '../handler-task'
import { limitedBytes, RequestBody } from '../request-body'
import type { HttpHandler } from '../router'
import { applyRawStream, applyVhdStream, PIB_CONTENT_LENGTH } from './disk-writes'
import { deviceIoError, faultedBytes, TransferFault, transferPlan } from './transfer-faults'
import { endFailedTransfer } from './transfer-outcome'
import { failBeforeTransfer, openTransfer, progressReporter, refusal, runTransfer, statusOf } from './transfer-task'
import { cutConnection, endResponse, startTransfer } from './xapi-responses'

/**
 * `PUT /import_raw_vdi?vdi=&format=raw|vhd` (`import_raw_vdi.ml`): writes a raw image or applies a VHD
 * (dynamic or differencing) onto an existing VDI; with `sr_id`/`sr_uuid` instead of `vdi`, a raw image
 * becomes a new VDI of the body's length. The 200 status (with `task-id`) goes before the body is read;
 * the task result is the VDI ref. The xen-api client's empty probe gets 200 and does nothing; its
 * 1 PiB `content-length` (a stream of unknown length) is served by ending a VHD at its trailing footer
 * and a raw image at the end of the VDI or of the connection.
 */

export const IMPORT_RAW_VDI_PATH = '/import_raw_vdi'

export function importRawVdiHandler(link: StorageLink): HttpHandler {
  const { core } = link
  return async (request, response, url) => {
    const length = request.headers['content-length']
    if (length === '0') {
      // putResource's probe for a redirection: nothing to import.
      request.resume()
      startTransfer(response, {})
      await endResponse(response)
      return
    }
    const opened = openTransfer(core, request, response, url, 'Importing raw VDI')
    if (opened === undefined) return
    const { task } = opened
    const format = (url.searchParams.get('format') ?? 'raw').toLowerCase()
    const unknownLength = length === undefined || Number(length) >= PIB_CONTENT_LENGTH
    let vdi: string
    try {
      if (format !== 'raw' && format !== 'vhd') {
        const known = format === 'tar' || format === 'qcow2'
        const message = known ? `Format ${format} is not supported by the simulator` : `Unknown format ${format}`
        throw refusal(internalError(message), 404)
      }
      if (request.headers['transfer-encoding'] !== undefined || url.searchParams.has('chunked')) {
        throw refusal(internalError('Cannot handle encoding: chunked'), 404)
      }
      if (length === undefined) throw refusal(internalError('content-length required'), 400)
      const vdiParam = url.searchParams.get('vdi')
      if (vdiParam !== null) vdi = link.vdiRefOf(vdiParam)
      else {
        const srParam = url.searchParams.get('sr_id') ?? url.searchParams.get('sr_uuid')
        if (srParam === null) throw new XapiError('VDI_MISSING', [])
        if (format !== 'raw') {
          throw refusal(internalError('Importing a VHD directly into an SR not yet supported'), 400)
        }
        if (unknownLength) throw refusal(internalError('Not enough info supplied to import'), 400)
        const sr = link.srRefOf(srParam)
        vdi = await createVdi(
          link,
          sr,
          {
            name_label: 'Imported VDI',
            name_description: '',
            type: 'user',
            sharable: false,
            read_only: false,
            other_config: {},
            xenstore_data: {},
            sm_config: {},
            tags: [],
          },
          Number(length),
        )
      }
    } catch (error) {
      request.resume()
      failBeforeTransfer(core, response, task, error, statusOf(error))
      return
    }
    const uuid = link.vdiUuid(vdi)
    const fault = matchHandlerFault(core, IMPORT_RAW_VDI_PATH, [vdi])
    const plan = transferPlan(fault)
    if (plan.beforeHeaders !== undefined) {
      request.resume()
      if (plan.beforeHeaders.kind === 'cut') {
        core.tasks.fail(task, plan.beforeHeaders.error)
        cutConnection(response)
      } else failBeforeTransfer(core, response, task, plan.beforeHeaders.error)
      return
    }
    startTransfer(response, { 'task-id': task, 'content-type': 'application/octet-stream' })
    const body = new RequestBody(request)
    if (unknownLength && !url.searchParams.has('task_id') && !(await body.hasData())) {
      // putResource's probe when the body's length is unknown: it closes the connection without data.
      core.db.destroy('task', task)
      await endResponse(response)
      return
    }
    const holder = `import_raw_vdi ${task}`
    const failure = await runTransfer(core, IMPORT_RAW_VDI_PATH, opened, fault, async (ctx) => {
      await ctx.checkpoint()
      const engine: SrEngine = link.engineOfVdi(vdi)
      await link.call(() => engine.attach(uuid, { holder, readOnly: false }))
      try {
        const size = engine.vdi(uuid).virtualSize
        const report = progressReporter(ctx, unknownLength ? size : Number(length))
        const counted = async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            report(chunk.length)
            yield chunk
          }
        }
        if (format === 'raw') {
          // A raw stream of unknown length ends with the VDI (or when the client closes the connection).
          const limit = unknownLength ? size : Number(length)
          const source = counted(
            faultedBytes(
              core,
              limitedBytes(body, () => limit),
              plan,
              ctx.signal,
            ),
          )
          await link.call(() => applyRawStream(engine, uuid, size, source))
          if (!unknownLength && body.consumed < Number(length)) throw deviceIoError()
        } else {
          let end = Number.POSITIVE_INFINITY
          let blockBytes = BLOCK_SIZE + 512
          const source = unknownLength ? limitedBytes(body, () => end) : body
          const items = parseVhdStream(counted(faultedBytes(core, source, plan, ctx.signal)), {
            name: `import into VDI ${uuid}`,
          })
          await link.call(() =>
            applyVhdStream(engine, uuid, size, items, (item) => {
              if (item.type === 'header') blockBytes = bitmapBytes(item.header.blockSize) + item.header.blockSize
              if (item.type === 'bat' && unknownLength) {
                // The trailing footer follows the last block: that is where an upload of unknown length ends.
                const last = item.blocks.at(-1)
                end = (last === undefined ? item.offset + item.raw.length : item.bat[last]! * 512 + blockBytes) + 512
              }
            }),
          )
        }
        if (!unknownLength) await body.drain()
      } catch (error) {
        if (error instanceof VhdError) {
          core.log(`import into VDI ${uuid}: ${error.message}`)
          throw deviceIoError()
        }
        throw error
      } finally {
        await engine.detach(uuid, holder).catch(() => undefined)
      }
      await endResponse(response)
      return `<value>${vdi}</value>`
    })
    if (failure === undefined) return
    // Unlike XAPI, which closes at once, the rest of a body of known length is read first: the client then
    // always sees the task's error, not a reset connection whose timing depends on socket buffers.
    if (!unknownLength && !(failure instanceof TransferFault && failure.kind === 'cut')) await body.drain()
    await endFailedTransfer(response, failure)
  }
}
