import { readXva, XVA_CHUNK_SIZE, XvaError } from '../../../provider/disk'
import type { StorageLink } from '../../integration/storage-link'
import { isNullRef } from '../../model/values'
import { throwIfCancelled } from '../../rpc/call-context'
import { XapiError } from '../../rpc/errors'
import type { BlockWrite, SrEngine } from '../../storage'
import { BLOCK_SIZE } from '../../storage/sizes'
import { encodeValue } from '../../wire/xmlrpc'
import { matchHandlerFault } from '../handler-task'
import { RequestBody } from '../request-body'
import type { HttpHandler } from '../router'
import { PIB_CONTENT_LENGTH } from './disk-writes'
import {
  assertCompatible,
  completeImport,
  type ImportedDisk,
  importOvaObjects,
  type OvaImport,
  parseOvaXml,
} from './ova-import'
import { faultedBytes, TransferFault, transferPlan } from './transfer-faults'
import { endFailedTransfer } from './transfer-outcome'
import { failBeforeTransfer, openTransfer, progressReporter, refusal, runTransfer, statusOf } from './transfer-task'
import { cutConnection, endResponse, startTransfer } from './xapi-responses'

/**
 * `PUT /import[?sr_id=|sr_uuid=]` (`import.ml`): an XVA (plain, gzip or zstd, told by its first bytes)
 * becomes a VM in the pool. The 200 status goes first; the objects of `ova.xml` are created as soon as
 * it arrives (task `other_config.object_creation = complete`), the disks are filled from their chunks,
 * and the import ends at the tar end marker (which serves the client's 1 PiB `content-length` for
 * streams of unknown length). The task result is the set of VM refs. Any failure undoes the import.
 */

export const IMPORT_PATH = '/import'

/** What xapi reports for the XVA problems our reader finds (`Import.with_error_handling`). */
function importErrorOf(error: XvaError): XapiError {
  switch (error.code) {
    case 'XVA_HASH_MISMATCH':
      return new XapiError('IMPORT_ERROR_SOME_CHECKSUMS_FAILED', [])
    case 'XVA_TRUNCATED':
      return new XapiError('IMPORT_ERROR_PREMATURE_EOF', [])
    case 'XVA_MISSING_OVA_XML':
      return new XapiError('IMPORT_ERROR_UNEXPECTED_FILE', ['ova.xml', String(error.field ?? '')])
    default:
      return new XapiError('IMPORT_ERROR', [error.message])
  }
}

/** 1 MiB chunks gathered into 2 MiB blocks for SM, a few blocks per commit. */
class DiskFiller {
  #block: { index: number; data: Buffer } | undefined
  #batch: BlockWrite[] = []

  constructor(
    private readonly engine: SrEngine,
    private readonly disk: ImportedDisk,
  ) {}

  async add(chunk: number, data: Buffer): Promise<void> {
    const offset = chunk * XVA_CHUNK_SIZE
    if (offset + data.length > this.disk.size)
      throw new XapiError('IMPORT_ERROR', [`chunk ${chunk} lies past the end of its disk`])
    const index = Math.floor(offset / BLOCK_SIZE)
    if (this.#block?.index !== index) {
      await this.#close()
      this.#block = { index, data: Buffer.alloc(Math.min(BLOCK_SIZE, this.disk.size - index * BLOCK_SIZE)) }
    }
    data.copy(this.#block!.data, offset - index * BLOCK_SIZE)
  }

  async #close(): Promise<void> {
    if (this.#block !== undefined) this.#batch.push(this.#block)
    this.#block = undefined
    if (this.#batch.length >= 8) await this.#flush()
  }

  async #flush(): Promise<void> {
    const batch = this.#batch
    this.#batch = []
    if (batch.length > 0) await this.engine.writeBlocks(this.disk.uuid, batch, { skipZeroUnallocated: true })
  }

  async finish(): Promise<void> {
    await this.#close()
    await this.#flush()
  }
}

export function importXvaHandler(link: StorageLink): HttpHandler {
  const { core } = link
  const { db } = core
  return async (request, response, url) => {
    const length = request.headers['content-length']
    if (length === '0') {
      request.resume()
      startTransfer(response, {})
      await endResponse(response)
      return
    }
    const opened = openTransfer(core, request, response, url, 'VM.import')
    if (opened === undefined) return
    const { task } = opened
    let sr: string
    try {
      const srParam = url.searchParams.get('sr_id') ?? url.searchParams.get('sr_uuid')
      sr = srParam !== null ? link.srRefOf(srParam) : String(db.get('pool', core.poolRef()).default_SR)
      if (isNullRef(sr))
        throw new XapiError('INTERNAL_ERROR', ['request was missing both sr_id and sr_uuid: one must be provided'])
      if (db.get('SR', sr).content_type === 'iso') {
        throw refusal(new XapiError('SR_OPERATION_NOT_SUPPORTED', []), 400)
      }
      if (request.headers['transfer-encoding'] !== undefined) {
        throw refusal(new XapiError('IMPORT_ERROR_CANNOT_HANDLE_CHUNKED', []), 403)
      }
    } catch (error) {
      request.resume()
      failBeforeTransfer(core, response, task, error, statusOf(error))
      return
    }
    const fault = matchHandlerFault(core, IMPORT_PATH, [sr])
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
    const unknownLength = length === undefined || Number(length) >= PIB_CONTENT_LENGTH
    if (unknownLength && !url.searchParams.has('task_id') && !(await body.hasData())) {
      // putResource's probe when the body's length is unknown: it closes the connection without data.
      core.db.destroy('task', task)
      await endResponse(response)
      return
    }
    const failure = await runTransfer(core, IMPORT_PATH, opened, fault, async (ctx) => {
      await ctx.checkpoint()
      ctx.task?.setProgress(0)
      const report = progressReporter(ctx, unknownLength ? 0 : Number(length))
      // A scripted fault in the body surfaces through the decompressor as a compression error: keep it.
      let transferFault: TransferFault | undefined
      const counted = async function* (source: AsyncIterable<Buffer>) {
        try {
          for await (const chunk of source) {
            report(chunk.length)
            yield chunk
          }
        } catch (error) {
          if (error instanceof TransferFault) transferFault = error
          throw error
        }
      }
      let imported: OvaImport | undefined
      const fillers = new Map<string, DiskFiller>()
      try {
        const items = readXva(counted(faultedBytes(core, body, plan, ctx.signal)), { name: 'the XVA import' })
        let complete = false
        for await (const item of items) {
          if (item.type === 'ova.xml') {
            const header = parseOvaXml(item.data)
            assertCompatible(core, header.version)
            imported = await importOvaObjects(link, header.objects, sr, task)
            const otherConfig = db.get('task', task).other_config as Record<string, string>
            db.update('task', task, { other_config: { ...otherConfig, object_creation: 'complete' } })
          } else if (item.type === 'chunk') {
            const disk = imported?.disks.get(item.ref)
            if (disk === undefined) continue
            let filler = fillers.get(item.ref)
            if (filler === undefined) {
              for (const other of fillers.values()) await link.call(() => other.finish())
              filler = new DiskFiller(link.engineOfVdi(disk.vdi), disk)
              fillers.set(item.ref, filler)
            }
            const current = filler
            await link.call(() => current.add(item.index, item.data))
          } else {
            complete = true
            break
          }
        }
        if (!complete) throw new XapiError('IMPORT_ERROR_PREMATURE_EOF', [])
        for (const filler of fillers.values()) await link.call(() => filler.finish())
        throwIfCancelled(ctx)
        const vms = completeImport(core, imported?.vms ?? [], task)
        if (!unknownLength) await body.drain()
        await endResponse(response)
        return encodeValue(vms, { kind: 'set', of: { kind: 'ref', cls: 'VM' } }, core.recordTypes)
      } catch (error) {
        await imported?.undo()
        if (transferFault !== undefined) throw transferFault
        throw error instanceof XvaError ? importErrorOf(error) : error
      }
    })
    if (failure === undefined) return
    // Unlike XAPI, which closes at once, the rest of a body of known length is read first: the client then
    // always sees the task's error, not a reset connection whose timing depends on socket buffers.
    if (!unknownLength && !(failure instanceof TransferFault && failure.kind === 'cut')) await body.drain()
    await endFailedTransfer(response, failure)
  }
}
