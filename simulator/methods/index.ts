import { simulatedClasses } from '../model/classes'
import { classAccessors } from '../rpc/accessors'
import type { MethodRegistry, MethodSpec } from '../rpc/method'
import { blobMethods } from './blob'
import { eventMethods } from './event'
import { messageMethods } from './message'
import { secretMethods } from './secret'
import { sessionMethods } from './session'
import { storageNameMethods } from './storage-names'
import { systemMethods } from './system'
import { taskMethods } from './task'
import { vbdMethods } from './vbd'
import { vifMethods } from './vif'
import { blobOwnerMethods, vmMethods } from './vm'
import { vmSetterMethods } from './vm-setters'

/** Hand-written methods, one list per class; they replace generated accessors of the same name. */
export const explicitMethods: readonly (readonly MethodSpec[])[] = [
  systemMethods,
  sessionMethods,
  eventMethods,
  taskMethods,
  vmMethods,
  vmSetterMethods,
  vbdMethods,
  vifMethods,
  secretMethods,
  messageMethods,
  blobMethods,
  blobOwnerMethods,
  storageNameMethods,
]

/** Registers the generated accessors of every simulated class, then the explicit methods. */
export function registerXapiMethods(registry: MethodRegistry): void {
  const generated = new Set<string>()
  for (const schema of simulatedClasses) {
    const accessors = classAccessors(schema, { fieldGetters: schema.name !== 'message' })
    registry.register(...accessors)
    for (const spec of accessors) generated.add(spec.name)
  }
  for (const list of explicitMethods) {
    for (const spec of list) {
      if (generated.has(spec.name)) registry.replace(spec)
      else registry.register(spec)
    }
  }
}
