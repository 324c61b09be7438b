import { findClass } from './classes'

/**
 * One-to-many relationships: a ref field on one class (`VBD.VM`) and the set field on the other side
 * that XAPI derives from it (`VM.VBDs`). From XAPI's `Datamodel.all_relations`, restricted to the
 * classes the simulator keeps. When the ref changes, both ends change (and both get a `mod` event).
 */
export interface Relation {
  readonly refClass: string
  readonly refField: string
  readonly setClass: string
  readonly setField: string
}

const allRelations: readonly (readonly [string, string, string, string])[] = [
  ['VM', 'snapshot_of', 'VM', 'snapshots'],
  ['VDI', 'snapshot_of', 'VDI', 'snapshots'],
  ['VM', 'parent', 'VM', 'children'],
  ['task', 'subtask_of', 'task', 'subtasks'],
  ['PBD', 'host', 'host', 'PBDs'],
  ['PBD', 'SR', 'SR', 'PBDs'],
  ['VBD', 'VDI', 'VDI', 'VBDs'],
  ['VBD', 'VM', 'VM', 'VBDs'],
  ['VIF', 'VM', 'VM', 'VIFs'],
  ['VIF', 'network', 'network', 'VIFs'],
  ['PIF', 'host', 'host', 'PIFs'],
  ['PIF', 'network', 'network', 'PIFs'],
  ['VDI', 'SR', 'SR', 'VDIs'],
  ['console', 'VM', 'VM', 'consoles'],
  ['VM', 'resident_on', 'host', 'resident_VMs'],
  ['host_cpu', 'host', 'host', 'host_CPUs'],
  ['VDI', 'metadata_of_pool', 'pool', 'metadata_VDIs'],
]

export const relations: readonly Relation[] = allRelations
  .filter(([refClass, , setClass]) => findClass(refClass) !== undefined && findClass(setClass) !== undefined)
  .map(([refClass, refField, setClass, setField]) => ({ refClass, refField, setClass, setField }))

const byRefSide = new Map<string, Relation[]>()
const bySetSide = new Set<string>()
for (const relation of relations) {
  const list = byRefSide.get(relation.refClass) ?? []
  list.push(relation)
  byRefSide.set(relation.refClass, list)
  bySetSide.add(`${relation.setClass}.${relation.setField}`)
}

/** The relations whose ref field lives on `cls`. */
export function relationsFrom(cls: string): readonly Relation[] {
  return byRefSide.get(cls) ?? []
}

/** Whether `cls.field` is a set derived from another class's refs (and so never written directly). */
export function isDerivedSet(cls: string, field: string): boolean {
  return bySetSide.has(`${cls}.${field}`)
}
