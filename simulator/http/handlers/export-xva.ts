import { createXvaStream, XVA_CHUNK_SIZE, type XvaCompression, type XvaDiskSource } from '../../../provider/disk'
import type { StorageLink } from '../../integration/storage-link'
import { assertVmOperationValid, withVmOperation } from '../../methods/vm-operations'
import { internalError } from '../../rpc/errors'
import type { SrEngine } from '../../storage'
import { matchHandlerFault } from '../handler-task'
import type { HttpHandler } from '../router'
import { buildOvaExport } from './ova-export'
import { faultedBytes, transferPlan } from './transfer-faults'
import { endFailedTransfer } from './transfer-outcome'
import { failBeforeTransfer, openTransfer, progressReporter, runTransfer, writeChunk } from './transfer-task'
import { VdiContent } from './vdi-content'
import { cutConnection, endResponse, startTransfer } from './xapi-responses'

/**
 * `GET /export?ref=|uuid=[&use_compression=true|gzip|zstd][&preserve_power_state=true]` (`export.ml`):
 * an XVA of a halted or suspended VM or a snapshot, holding the VM's `export` operation while it runs:
 * `ova.xml`, then each disk in 1 MiB chunks with their XXH64, compressed as a whole if asked.
 */

export const EXPORT_PATH = '/export'

function compressionOf(value: string | null): XvaCompression {
  if (value === 'true' || value === 'gzip') return 'gzip'
  if (value === 'zstd') return 'zstd'
  return 'none'
}

export function exportXvaHandler(link: StorageLink): HttpHandler {
  const { core } = link
  const { db } = core
  return async (request, response, url) => {
    const opened = openTransfer(core, request, response, url, 'VM.export')
    if (opened === undefined) return
    const { task } = opened
    let vm: string
    try {
      const ref = url.searchParams.get('ref')
      const uuid = url.searchParams.get('uuid')
      if (ref === null && uuid === null) throw internalError('Not_found')
      vm = ref !== null ? link.vmRefOf(ref) : db.refOfUuid('VM', uuid!)
      assertVmOperationValid(db, vm, 'export')
    } catch (error) {
      failBeforeTransfer(core, response, task, error)
      return
    }
    const compression = compressionOf(url.searchParams.get('use_compression'))
    const preserve = url.searchParams.get('preserve_power_state') === 'true'
    const fault = matchHandlerFault(core, EXPORT_PATH, [vm])
    const plan = transferPlan(fault)
    if (plan.beforeHeaders !== undefined) {
      if (plan.beforeHeaders.kind === 'cut') {
        core.tasks.fail(task, plan.beforeHeaders.error)
        cutConnection(response)
      } else failBeforeTransfer(core, response, task, plan.beforeHeaders.error)
      return
    }
    const holder = `export ${task}`
    const failure = await runTransfer(core, EXPORT_PATH, opened, fault, (ctx) =>
      withVmOperation(ctx, vm, 'export', async () => {
        ctx.task?.setProgress(0)
        const software = db.get('host', core.masterRef()).software_version as Readonly<Record<string, string>>
        startTransfer(response, {
          'task-id': task,
          server: `xapi/${software.xapi ?? ''}`,
          'content-type': 'application/octet-stream',
          'content-disposition': 'attachment; filename="export.xva"',
        })
        const ova = buildOvaExport(link, vm, preserve)
        const attached: Array<{ engine: SrEngine; uuid: string }> = []
        try {
          const disks: XvaDiskSource[] = []
          let total = 0
          const contents: VdiContent[] = []
          for (const disk of ova.disks) {
            const engine = link.engineOfVdi(disk.vdi)
            const uuid = link.vdiUuid(disk.vdi)
            await link.call(() => engine.attach(uuid, { holder, readOnly: true }))
            attached.push({ engine, uuid })
            const content = await link.call(() => VdiContent.open(engine, uuid))
            contents.push(content)
            total += content.size
          }
          const report = progressReporter(ctx, total)
          ova.disks.forEach((disk, i) => {
            const content = contents[i]!
            disks.push({
              ref: disk.id,
              size: content.size,
              allocatedChunks: content.allocated.flatMap((block) => [2 * block, 2 * block + 1]),
              readChunk: async (index) => {
                const length = Math.min(XVA_CHUNK_SIZE, content.size - index * XVA_CHUNK_SIZE)
                report(length)
                return content.slice(index * XVA_CHUNK_SIZE, length)
              },
            })
          })
          const stream = createXvaStream({ ovaXml: ova.ovaXml, disks, compression })
          try {
            await link.call(async () => {
              for await (const chunk of faultedBytes(core, stream, plan, ctx.signal)) {
                await writeChunk(response, chunk, ctx.signal)
              }
            })
          } finally {
            stream.destroy()
          }
          await endResponse(response)
        } finally {
          for (const { engine, uuid } of attached) await engine.detach(uuid, holder).catch(() => undefined)
        }
        return undefined
      }),
    )
    if (failure !== undefined) await endFailedTransfer(response, failure)
  }
}
