import { randomUUID } from 'node:crypto'
import { batBytes, type VhdStreamSpec, vhdStreamChunks, vhdStreamLength } from '../../../provider/disk'
import type { StorageLink } from '../../integration/storage-link'
import { internalError, XapiError } from '../../rpc/errors'
import type { SrEngine } from '../../storage'
import { BLOCK_SIZE, MAX_VHD_SIZE } from '../../storage/sizes'
import { matchHandlerFault } from '../handler-task'
import type { HttpHandler } from '../router'
import { faultedBytes, transferPlan } from './transfer-faults'
import { endFailedTransfer } from './transfer-outcome'
import { failBeforeTransfer, openTransfer, progressReporter, runTransfer, writeChunk } from './transfer-task'
import { VdiContent } from './vdi-content'
import { cutConnection, endResponse, startTransfer } from './xapi-responses'

/**
 * `GET /export_raw_vdi?vdi=&format=raw|vhd[&base=]` (`export_raw_vdi.ml`): the 200 status goes first
 * (with `task-id`, content type and file name), then the disk: raw bytes, or a VHD laid out exactly as
 * XAPI's vhd-tool writes it (dynamic, or differencing relative to `base` with the blocks of
 * chain(vdi) Δ chain(base)). Failures after the status (a `cbt_metadata` base, `VDI_TOO_LARGE`) put
 * XAPI's 500 page into the body, as XAPI does. The task succeeds after the last byte.
 */

export const EXPORT_RAW_VDI_PATH = '/export_raw_vdi'

const CONTENT_TYPES = { raw: 'application/octet-stream', vhd: 'application/vhd' } as const

/** Bytes of a VHD export before its first block: footer, header, free sector, BAT. */
function vhdHeadBytes(virtualSize: number): number {
  return 2048 + batBytes(Math.ceil(virtualSize / BLOCK_SIZE))
}

/** VHD `base` parent fields: the base's VHD footer uuid and a path like the one vhd-tool reads. */
function parentOf(engine: SrEngine, baseUuid: string): VhdStreamSpec['parent'] {
  const facts = engine.vdi(baseUuid)
  const name =
    engine.type === 'lvm' || engine.type === 'lvmoiscsi' || engine.type === 'lvmohba'
      ? `/dev/VG_XenStorage-${engine.uuid}/VHD-${baseUuid}`
      : `/var/run/sr-mount/${engine.uuid}/${baseUuid}.vhd`
  return {
    uuid: facts.vhdUuid ?? baseUuid,
    timestamp: Math.max(0, Math.floor((Date.now() - Date.UTC(2000, 0, 1)) / 1000)),
    name,
  }
}

export function exportRawVdiHandler(link: StorageLink): HttpHandler {
  const { core } = link
  return async (request, response, url) => {
    const opened = openTransfer(core, request, response, url, 'Exporting raw VDI')
    if (opened === undefined) return
    const { task } = opened
    const format = (url.searchParams.get('format') ?? 'raw').toLowerCase()
    if (format !== 'raw' && format !== 'vhd') {
      const known = format === 'tar' || format === 'qcow2'
      const message = known ? `Format ${format} is not supported by the simulator` : `Unknown format ${format}`
      failBeforeTransfer(core, response, task, internalError(message), 404)
      return
    }
    let vdi: string
    let base: string | undefined
    try {
      const vdiParam = url.searchParams.get('vdi')
      if (vdiParam === null) throw internalError('Missing vdi query parameter')
      vdi = link.vdiRefOf(vdiParam)
      const baseParam = url.searchParams.get('base')
      base = baseParam === null || format === 'raw' ? undefined : link.vdiRefOf(baseParam)
    } catch (error) {
      failBeforeTransfer(core, response, task, error)
      return
    }
    const record = core.db.get('VDI', vdi)
    const uuid = String(record.uuid)
    const virtualSize = Number(record.virtual_size)
    const fault = matchHandlerFault(core, EXPORT_RAW_VDI_PATH, base === undefined ? [vdi] : [vdi, base])
    const plan = transferPlan(fault, (blocks) =>
      format === 'vhd' ? vhdHeadBytes(virtualSize) + blocks * (BLOCK_SIZE + 512) : blocks * BLOCK_SIZE,
    )
    if (plan.beforeHeaders !== undefined) {
      if (plan.beforeHeaders.kind === 'cut') {
        core.tasks.fail(task, plan.beforeHeaders.error)
        cutConnection(response)
      } else failBeforeTransfer(core, response, task, plan.beforeHeaders.error)
      return
    }
    startTransfer(response, {
      'task-id': task,
      'content-type': CONTENT_TYPES[format],
      'content-disposition': `attachment; filename="${uuid}.${format}"`,
    })
    const holder = `export_raw_vdi ${task}`
    const failure = await runTransfer(core, EXPORT_RAW_VDI_PATH, opened, fault, async (ctx) => {
      await ctx.checkpoint()
      if (format === 'vhd' && virtualSize > MAX_VHD_SIZE) {
        throw new XapiError('VDI_TOO_LARGE', [vdi, String(MAX_VHD_SIZE)])
      }
      const engine = link.engineOfVdi(vdi)
      const baseEngine = base === undefined ? undefined : link.engineOfVdi(base)
      const baseUuid = base === undefined ? undefined : link.vdiUuid(base)
      // Attached read-only on the host for the export's duration, the base too (`with_block_attached_device`).
      await link.call(() => engine.attach(uuid, { holder, readOnly: true }))
      try {
        if (baseEngine !== undefined && baseUuid !== undefined) {
          await link.call(() => baseEngine.attach(baseUuid, { holder, readOnly: true }))
        }
        const content = await link.call(() => VdiContent.open(engine, uuid))
        let source: AsyncIterable<Buffer>
        let total: number
        if (format === 'raw') {
          source = content.raw()
          total = content.size
        } else {
          const blocks =
            baseEngine === undefined || baseUuid === undefined
              ? content.allocated
              : await link.call(() => engine.blocksToExport(uuid, { sr: baseEngine, vdi: baseUuid }))
          const spec: VhdStreamSpec = {
            virtualSize: content.size,
            diskType: baseUuid === undefined ? 'dynamic' : 'differencing',
            uuid: randomUUID(),
            ...(baseEngine === undefined || baseUuid === undefined
              ? {}
              : { parent: link.guard(() => parentOf(baseEngine, baseUuid)) }),
            blocks,
            readBlock: (index) => content.block(index),
          }
          source = vhdStreamChunks(spec)
          total = vhdStreamLength(spec)
        }
        const report = progressReporter(ctx, total)
        await link.call(async () => {
          for await (const chunk of faultedBytes(core, source, plan, ctx.signal)) {
            await writeChunk(response, chunk, ctx.signal)
            report(chunk.length)
          }
        })
        await endResponse(response)
      } finally {
        await engine.detach(uuid, holder).catch(() => undefined)
        if (baseEngine !== undefined && baseUuid !== undefined)
          await baseEngine.detach(baseUuid, holder).catch(() => undefined)
      }
      return undefined
    })
    if (failure !== undefined) await endFailedTransfer(response, failure)
  }
}
