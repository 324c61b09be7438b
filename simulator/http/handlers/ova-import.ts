import type { SimulatorCore } from '../../core'
import type { StorageLink } from '../../integration/storage-link'
import { createVdi, destroyVdi, intentOfRecord } from '../../integration/vdi-factory'
import { createVbd } from '../../methods/vbd'
import { createVif } from '../../methods/vif'
import { createVm, destroyVm } from '../../methods/vm'
import { updateVmAllowedOperations } from '../../methods/vm-operations'
import { initialValue } from '../../model/class-schema'
import { findClass } from '../../model/classes'
import { coerceValue } from '../../model/types'
import { NULL_REF, newUuid } from '../../model/values'
import { XapiError } from '../../rpc/errors'
import { decodeValueFragment } from '../../wire/xmlrpc'

/**
 * The objects of an XVA's `ova.xml` created in the pool, as xapi's `import.ml` does for a full import:
 * VDIs created on the target SR (ISO images found by location, else ejected), the VM (new uuid and MAC
 * seed, halted, holding the `import` operation until the import completes), its metrics, VBDs, VIFs
 * (new MACs) and networks (found by name or bridge, else created). Failures undo what was created.
 */

interface OvaObject {
  readonly cls: string
  readonly id: string
  readonly snapshot: Readonly<Record<string, unknown>>
}

export interface ImportedDisk {
  readonly vdi: string
  readonly uuid: string
  readonly size: number
}

export interface OvaImport {
  /** Created VMs, in creation order. */
  readonly vms: string[]
  /** Disks to fill, by their id in the archive. */
  readonly disks: Map<string, ImportedDisk>
  /** Undoes everything created, newest first. */
  undo(): Promise<void>
}

const importError = (message: string) => new XapiError('IMPORT_ERROR', [message])

/** The `ova.xml` header: XAPI's XML-RPC `{version, objects}`. */
export function parseOvaXml(xml: Buffer): { version: Readonly<Record<string, unknown>>; objects: OvaObject[] } {
  let decoded: unknown
  try {
    decoded = decodeValueFragment(xml.toString('utf8'))
  } catch (error) {
    throw importError(`ova.xml is not XML-RPC: ${(error as Error).message}`)
  }
  const header = decoded as { version?: unknown; objects?: unknown }
  if (
    typeof header !== 'object' ||
    header === null ||
    typeof header.version !== 'object' ||
    !Array.isArray(header.objects)
  ) {
    throw importError('ova.xml has no version and objects')
  }
  const objects = header.objects.map((object, i): OvaObject => {
    const o = object as { class?: unknown; id?: unknown; snapshot?: unknown }
    if (
      typeof o.class !== 'string' ||
      typeof o.id !== 'string' ||
      typeof o.snapshot !== 'object' ||
      o.snapshot === null
    ) {
      throw importError(`ova.xml objects[${i}] is not {class, id, snapshot}`)
    }
    return { cls: o.class, id: o.id, snapshot: o.snapshot as Record<string, unknown> }
  })
  return { version: header.version as Record<string, unknown>, objects }
}

/** A record read leniently: known fields converted to their types, unreadable or missing ones at their defaults. */
function coerceRecord(cls: string, snapshot: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const schema = findClass(cls)
  if (schema === undefined) return {}
  const record: Record<string, unknown> = {}
  for (const field of schema.fields) {
    const value = snapshot[field.name]
    try {
      record[field.name] = value === undefined ? initialValue(field) : coerceValue(value, field.type, field.name)
    } catch {
      record[field.name] = initialValue(field)
    }
  }
  return record
}

/** `Importexport.assert_compatible`: an export from a newer xapi is refused. */
export function assertCompatible(core: SimulatorCore, version: Readonly<Record<string, unknown>>): void {
  const software = core.db.get('host', core.masterRef()).software_version as Readonly<Record<string, string>>
  const [major = 0, minor = 0] = (software.xapi ?? '0.0').split('.').map(Number)
  const theirs = [Number(version.xapi_major ?? 0), Number(version.xapi_minor ?? 0)] as const
  if (theirs[0] > major || (theirs[0] === major && theirs[1] > minor))
    throw new XapiError('IMPORT_INCOMPATIBLE_VERSION', [])
}

const SM_KEYS = new Set(['vhd-parent', 'vdi_type', 'type', 'paused', 'gc_no_space', 'vhd-blocks'])

export async function importOvaObjects(
  link: StorageLink,
  objects: readonly OvaObject[],
  sr: string,
  task: string,
): Promise<OvaImport> {
  const { core } = link
  const { db } = core
  const table = new Map<string, string>()
  const undo: Array<() => Promise<void> | void> = []
  const vms: string[] = []
  const disks = new Map<string, ImportedDisk>()
  const byId = new Map(objects.map((o) => [o.id, o]))
  const lookup = (ref: unknown): string | undefined => table.get(String(ref))
  const of = (cls: string) => objects.filter((o) => o.cls === cls)
  const result: OvaImport = {
    vms,
    disks,
    undo: async () => {
      for (const action of undo.reverse()) await Promise.resolve(action()).catch(() => undefined)
    },
  }
  try {
    for (const object of of('VDI')) {
      const record = coerceRecord('VDI', object.snapshot)
      const originalSr = byId.get(String(object.snapshot.SR))
      if (originalSr?.snapshot.content_type === 'iso') {
        // Best effort: an ISO image of the same name in an ISO SR of this pool, else the drive is ejected.
        const [found] = db.filter(
          'VDI',
          (vdi) => vdi.location === record.location && db.find('SR', String(vdi.SR))?.content_type === 'iso',
        )
        if (found !== undefined) table.set(object.id, found)
        continue
      }
      const smConfig = Object.fromEntries(
        Object.entries(record.sm_config as Record<string, string>).filter(([key]) => !SM_KEYS.has(key)),
      )
      const vdi = await createVdi(
        link,
        sr,
        { ...intentOfRecord(record), sm_config: { ...smConfig, import_task: task } },
        Number(record.virtual_size),
      )
      undo.push(() => destroyVdi(link, vdi))
      table.set(object.id, vdi)
      disks.set(object.id, { vdi, uuid: link.vdiUuid(vdi), size: Number(db.get('VDI', vdi).virtual_size) })
    }
    for (const cls of ['VM_guest_metrics', 'VM_metrics'] as const) {
      for (const object of of(cls)) {
        const { uuid: _uuid, ...record } = coerceRecord(cls, object.snapshot)
        const ref = db.create(cls, record)
        undo.push(() => {
          if (db.exists(cls, ref)) db.destroy(cls, ref)
        })
        table.set(object.id, ref)
      }
    }
    for (const object of of('VM')) {
      const record = coerceRecord('VM', object.snapshot)
      const otherConfig: Record<string, string> = {
        ...(record.other_config as Record<string, string>),
        mac_seed: newUuid(),
        import_task: task,
      }
      delete otherConfig.default_template
      const vm = createVm(core, {
        ...record,
        is_default_template: false,
        other_config: otherConfig,
        power_state: 'Halted',
        suspend_VDI: NULL_REF,
        version: 0,
        appliance: NULL_REF,
        protection_policy: NULL_REF,
      })
      undo.push(() => {
        if (db.exists('VM', vm)) {
          db.update('VM', vm, { current_operations: {}, power_state: 'Halted' })
          destroyVm(core, vm)
        }
      })
      const suspendVdi = lookup(record.suspend_VDI)
      const metrics = lookup(record.metrics)
      const replacedMetrics = String(db.get('VM', vm).metrics)
      db.update('VM', vm, {
        last_booted_record: record.last_booted_record,
        last_boot_CPU_flags: record.last_boot_CPU_flags,
        ...(record.power_state === 'Suspended' && suspendVdi !== undefined
          ? { power_state: 'Suspended', suspend_VDI: suspendVdi }
          : {}),
        is_control_domain: record.is_control_domain,
        resident_on: lookup(record.resident_on) ?? NULL_REF,
        affinity: lookup(record.affinity) ?? NULL_REF,
        is_a_snapshot: record.is_a_snapshot,
        snapshot_info: record.snapshot_info,
        snapshot_of: lookup(record.snapshot_of) ?? NULL_REF,
        snapshot_time: record.snapshot_time,
        transportable_snapshot_id: record.transportable_snapshot_id,
        parent: lookup(record.parent) ?? NULL_REF,
        ...(metrics === undefined ? {} : { metrics }),
        guest_metrics: lookup(record.guest_metrics) ?? NULL_REF,
        bios_strings: record.bios_strings,
        current_operations: { [task]: 'import' },
      })
      if (metrics !== undefined && db.exists('VM_metrics', replacedMetrics)) db.destroy('VM_metrics', replacedMetrics)
      updateVmAllowedOperations(db, vm)
      table.set(object.id, vm)
      vms.push(vm)
    }
    for (const object of of('network')) {
      const record = coerceRecord('network', object.snapshot)
      const [found] = db.filter('network', (n) => n.name_label === record.name_label)
      const [byBridge] = found === undefined ? db.filter('network', (n) => n.bridge === record.bridge) : []
      const existing = found ?? byBridge
      if (existing !== undefined) {
        table.set(object.id, existing)
        continue
      }
      const { uuid: _uuid, ...fields } = record
      const network = db.create('network', {
        ...fields,
        other_config: { ...(record.other_config as Record<string, string>), import_task: task },
        current_operations: {},
        allowed_operations: [],
      })
      undo.push(() => {
        if (db.exists('network', network)) db.destroy('network', network)
      })
      table.set(object.id, network)
    }
    for (const object of of('VBD')) {
      const record = coerceRecord('VBD', object.snapshot)
      const vm = lookup(record.VM)
      if (vm === undefined) throw new XapiError('IMPORT_ERROR_FAILED_TO_FIND_OBJECT', [String(record.VM)])
      const vdi = lookup(record.VDI)
      if (vdi === undefined && record.type === 'Disk') continue
      const vbd = createVbd(core, {
        ...record,
        VM: vm,
        VDI: vdi ?? NULL_REF,
        empty: vdi === undefined || record.empty === true,
        device: '',
        currently_attached: false,
      })
      if (record.currently_attached === true) db.update('VBD', vbd, { currently_attached: true })
      undo.push(() => {
        if (db.exists('VBD', vbd)) db.destroy('VBD', vbd)
      })
      table.set(object.id, vbd)
    }
    for (const object of of('VIF')) {
      const record = coerceRecord('VIF', object.snapshot)
      const vm = lookup(record.VM)
      const network = lookup(record.network)
      if (vm === undefined) throw new XapiError('IMPORT_ERROR_FAILED_TO_FIND_OBJECT', [String(record.VM)])
      if (network === undefined) throw new XapiError('IMPORT_ERROR_FAILED_TO_FIND_OBJECT', [String(record.network)])
      const vif = createVif(core, { ...record, VM: vm, network, MAC: '', currently_attached: false })
      undo.push(() => {
        if (db.exists('VIF', vif)) db.destroy('VIF', vif)
      })
      table.set(object.id, vif)
    }
    return result
  } catch (error) {
    await result.undo()
    throw error
  }
}

/** `complete_import`: the VMs lose their `import` operation; the result lists them (snapshots only when all are). */
export function completeImport(core: SimulatorCore, vms: readonly string[], task: string): string[] {
  const { db } = core
  for (const vm of vms) {
    const { [task]: _done, ...rest } = db.get('VM', vm).current_operations as Readonly<Record<string, string>>
    db.update('VM', vm, { current_operations: rest })
    updateVmAllowedOperations(db, vm)
  }
  const nonSnapshots = vms.filter((vm) => db.get('VM', vm).is_a_snapshot !== true)
  return nonSnapshots.length === 0 ? [...vms] : nonSnapshots
}
