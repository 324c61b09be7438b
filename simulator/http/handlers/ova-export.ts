import type { SimulatorCore } from '../../core'
import type { XapiRecord } from '../../db/database'
import type { StorageLink } from '../../integration/storage-link'
import type { XapiType } from '../../model/types'
import { EPOCH, isNullRef, NULL_REF } from '../../model/values'
import { encodeValue } from '../../wire/xmlrpc'

/**
 * The `ova.xml` of an XVA export as xapi's `export.ml` writes it: the objects around the VM (itself,
 * its VIFs and networks, VBDs, VDIs and their SRs, metrics, guest metrics, the hosts it names), each
 * given an id `Ref:<n>` in the order they are met, references rewritten to those ids (to `OpaqueRef:NULL`
 * where the object is not exported), serialised with XAPI's XML-RPC encoding as
 * `{version: {...}, objects: [{class, id, snapshot}]}`. Also the disks to stream, sorted by id.
 */

export interface OvaExport {
  readonly ovaXml: Buffer
  /** VDIs whose contents follow, in stream order (ids sorted as strings, as `Stream_vdi` does). */
  readonly disks: readonly { readonly id: string; readonly vdi: string }[]
}

const CLASS_ORDER = ['host', 'VM', 'VM_metrics', 'VM_guest_metrics', 'VBD', 'VIF', 'network', 'VDI', 'SR'] as const

class ExportTable {
  readonly #ids = new Map<string, string>()
  constructor(private readonly nextId: () => string) {}

  /** `Export.update_table`'s `add`: every ref met gets an id, the null ref included (as xapi does). */
  add(ref: string): void {
    if (!this.#ids.has(ref)) this.#ids.set(ref, this.nextId())
  }

  has(ref: string): boolean {
    return this.#ids.has(ref)
  }

  lookup(ref: unknown): string {
    return this.#ids.get(String(ref)) ?? NULL_REF
  }

  filter(refs: unknown): string[] {
    return (refs as readonly string[]).filter((ref) => this.#ids.has(ref)).map((ref) => this.#ids.get(ref)!)
  }
}

function collect(core: SimulatorCore, table: ExportTable, vm: string, preservePowerState: boolean): void {
  const { db } = core
  const addVdi = (vdi: string) => {
    table.add(vdi)
    const record = db.find('VDI', vdi)
    if (record !== undefined) table.add(String(record.SR))
  }
  table.add(vm)
  const record = db.get('VM', vm)
  for (const vif of record.VIFs as readonly string[]) {
    const vifRecord = db.find('VIF', vif)
    if (vifRecord === undefined) continue
    table.add(vif)
    table.add(String(vifRecord.network))
  }
  for (const vbd of record.VBDs as readonly string[]) {
    const vbdRecord = db.find('VBD', vbd)
    if (vbdRecord === undefined) continue
    table.add(vbd)
    if (vbdRecord.empty !== true) addVdi(String(vbdRecord.VDI))
  }
  const suspendVdi = String(record.suspend_VDI)
  if (preservePowerState && record.power_state === 'Suspended' && db.exists('VDI', suspendVdi)) addVdi(suspendVdi)
  for (const field of ['metrics', 'guest_metrics', 'resident_on', 'affinity'] as const) table.add(String(record[field]))
}

/** Each exported record, with what xapi's `make_<class>` blanks or rewrites. */
function exportedRecord(
  cls: string,
  record: XapiRecord,
  table: ExportTable,
  preserve: boolean,
): Record<string, unknown> {
  switch (cls) {
    case 'host':
      return {
        ...record,
        PIFs: [],
        PBDs: [],
        PGPUs: [],
        PCIs: [],
        host_CPUs: [],
        license_params: {},
        blobs: {},
        external_auth_type: '',
        external_auth_service_name: '',
        external_auth_configuration: {},
        metrics: NULL_REF,
        patches: [],
        crashdumps: [],
        logging: {},
        supported_bootloaders: [],
        cpu_configuration: {},
        other_config: {},
        capabilities: [],
        software_version: {},
        sched_policy: '',
        ha_statefiles: [],
        ha_network_peers: [],
        tags: [],
        crash_dump_sr: table.lookup(record.crash_dump_sr),
        suspend_image_sr: table.lookup(record.suspend_image_sr),
        resident_VMs: table.filter(record.resident_VMs),
      }
    case 'VM':
      return {
        ...record,
        power_state: preserve ? record.power_state : 'Halted',
        suspend_VDI: preserve ? table.lookup(record.suspend_VDI) : NULL_REF,
        is_a_snapshot: false,
        snapshot_of: NULL_REF,
        snapshots: [],
        snapshot_time: EPOCH,
        transportable_snapshot_id: '',
        parent: NULL_REF,
        current_operations: {},
        allowed_operations: [],
        VIFs: table.filter(record.VIFs),
        VBDs: table.filter(record.VBDs),
        VGPUs: [],
        crash_dumps: [],
        VTPMs: [],
        resident_on: table.lookup(record.resident_on),
        affinity: table.lookup(record.affinity),
        consoles: [],
        metrics: table.lookup(record.metrics),
        guest_metrics: table.lookup(record.guest_metrics),
        protection_policy: NULL_REF,
        blobs: {},
      }
    case 'VBD':
      return {
        ...record,
        currently_attached: preserve ? record.currently_attached : false,
        VDI: table.lookup(record.VDI),
        VM: table.lookup(record.VM),
        metrics: NULL_REF,
        current_operations: {},
        allowed_operations: [],
      }
    case 'VIF':
      return {
        ...record,
        currently_attached: preserve ? record.currently_attached : false,
        network: table.lookup(record.network),
        VM: table.lookup(record.VM),
        metrics: NULL_REF,
        current_operations: {},
        allowed_operations: [],
      }
    case 'network':
      return { ...record, VIFs: table.filter(record.VIFs), PIFs: [], current_operations: {}, allowed_operations: [] }
    case 'VDI':
      return {
        ...record,
        VBDs: table.filter(record.VBDs),
        crash_dumps: [],
        SR: table.lookup(record.SR),
        current_operations: {},
        allowed_operations: [],
      }
    case 'SR':
      return { ...record, VDIs: table.filter(record.VDIs), PBDs: [], current_operations: {}, allowed_operations: [] }
    default:
      return { ...record }
  }
}

const STRING: XapiType = { kind: 'string' }
const INT: XapiType = { kind: 'int' }
const VERSION_TYPE: XapiType = {
  kind: 'struct',
  fields: {
    hostname: STRING,
    date: STRING,
    product_version: STRING,
    product_brand: STRING,
    build_number: STRING,
    xapi_major: INT,
    xapi_minor: INT,
    export_vsn: INT,
  },
}

/** `Importexport.this_version`: the master's software version, export format 2 (inline checksums). */
function version(core: SimulatorCore): Record<string, unknown> {
  const software = core.db.get('host', core.masterRef()).software_version as Readonly<Record<string, string>>
  const [major, minor] = (software.xapi ?? '0.0').split('.').map(Number)
  return {
    hostname: software.hostname ?? '',
    date: software.date ?? '',
    product_version: software.product_version ?? '',
    product_brand: software.product_brand ?? '',
    build_number: software.build_number ?? '',
    xapi_major: major ?? 0,
    xapi_minor: minor ?? 0,
    export_vsn: 2,
  }
}

export function buildOvaExport(link: StorageLink, vm: string, preservePowerState: boolean): OvaExport {
  const { core } = link
  const { db } = core
  const table = new ExportTable(() => link.nextExportId())
  collect(core, table, vm, preservePowerState)
  const objects: string[] = []
  for (const cls of CLASS_ORDER) {
    for (const ref of db.refs(cls)) {
      if (!table.has(ref)) continue
      const snapshot = exportedRecord(cls, db.get(cls, ref), table, preservePowerState)
      objects.push(
        `<value><struct><member><name>class</name><value>${cls}</value></member><member><name>id</name><value>${table.lookup(ref)}</value></member><member><name>snapshot</name>${encodeValue(snapshot, { kind: 'record', cls }, core.recordTypes)}</member></struct></value>`,
      )
    }
  }
  const ovaXml = `<value><struct><member><name>version</name>${encodeValue(version(core), VERSION_TYPE, core.recordTypes)}</member><member><name>objects</name><value><array><data>${objects.join('')}</data></array></value></member></struct></value>`

  const record = db.get('VM', vm)
  const vdis = (record.VBDs as readonly string[])
    .map((vbd) => db.get('VBD', vbd))
    .filter((vbd) => vbd.type !== 'CD' && !isNullRef(String(vbd.VDI)))
    .map((vbd) => String(vbd.VDI))
  if (preservePowerState && record.power_state === 'Suspended' && !isNullRef(String(record.suspend_VDI))) {
    vdis.unshift(String(record.suspend_VDI))
  }
  const disks = vdis
    .filter((vdi) => db.exists('VDI', vdi) && table.has(vdi))
    .filter((vdi) => db.find('SR', String(db.get('VDI', vdi).SR))?.content_type !== 'iso')
    .map((vdi) => ({ id: table.lookup(vdi), vdi }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return { ovaXml: Buffer.from(ovaXml, 'utf8'), disks }
}
