import { randomUUID } from 'node:crypto'
import { XapiError } from '../rpc/errors'
import type { CreateVdiOptions } from '../storage'
import type { StorageLink } from './storage-link'
import type { VdiIntent } from './vdi-intents'

/**
 * Creating and destroying VDIs as XAPI does (`Xapi_vdi.create`, `destroy_and_data_destroy_common`),
 * shared by `VDI.create`, `VDI.copy`, imports, suspend images and fixtures.
 */

/** The caller-owned fields of a VDI record (a constructor record already read by `readConstructorRecord`). */
export function intentOfRecord(record: Readonly<Record<string, unknown>>): VdiIntent {
  return {
    name_label: String(record.name_label ?? ''),
    name_description: String(record.name_description ?? ''),
    type: String(record.type ?? 'user'),
    sharable: record.sharable === true,
    read_only: record.read_only === true,
    other_config: { ...(record.other_config as Record<string, string> | undefined) },
    xenstore_data: { ...(record.xenstore_data as Record<string, string> | undefined) },
    sm_config: { ...(record.sm_config as Record<string, string> | undefined) },
    tags: [...((record.tags as readonly string[] | undefined) ?? [])],
  }
}

/** A new VDI on `sr` (an SR ref) with the record fields of `intent`; returns its ref. */
export async function createVdi(
  link: StorageLink,
  sr: string,
  intent: VdiIntent,
  virtualSize: number,
  options: Omit<CreateVdiOptions, 'uuid' | 'virtualSize'> = {},
): Promise<string> {
  if (intent.type === 'cbt_metadata') throw new XapiError('VDI_INCOMPATIBLE_TYPE', ['', 'cbt_metadata'])
  const engine = link.srEngine(sr)
  const uuid = randomUUID()
  await link.intents.creating(uuid, intent, () => link.call(() => engine.createVdi({ uuid, virtualSize, ...options })))
  return link.core.db.refOfUuid('VDI', uuid)
}

/**
 * `VDI.destroy`: refused while a VBD has it attached (`VDI_IN_USE`); SM destroys it (refusing base
 * copies with `VDI_NOT_MANAGED` and disks it still holds attached); then its VBDs go and VMs suspended
 * on it lose their `suspend_VDI`.
 */
export async function destroyVdi(link: StorageLink, vdi: string): Promise<void> {
  const { db } = link.core
  const record = db.get('VDI', vdi)
  const vbds = [...(record.VBDs as readonly string[])]
  if (vbds.some((vbd) => db.find('VBD', vbd)?.currently_attached === true)) {
    throw new XapiError('VDI_IN_USE', [vdi, 'destroy'])
  }
  const engine = link.engineOfVdi(vdi)
  await link.call(() => engine.destroyVdi(String(record.uuid)))
  if (db.exists('VDI', vdi)) db.destroy('VDI', vdi)
  for (const vbd of vbds) if (db.exists('VBD', vbd)) db.destroy('VBD', vbd)
  for (const vm of db.filter('VM', (r) => r.suspend_VDI === vdi)) db.update('VM', vm, { suspend_VDI: 'OpaqueRef:NULL' })
}
