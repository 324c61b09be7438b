import type { ClassSchema } from '../class-schema'
import { blobClass } from './blob'
import { consoleClass } from './console'
import { hostClass } from './host'
import { hostCpuClass } from './host-cpu'
import { hostMetricsClass } from './host-metrics'
import { messageClass } from './message'
import { networkClass } from './network'
import { pbdClass } from './pbd'
import { pifClass } from './pif'
import { poolClass } from './pool'
import { secretClass } from './secret'
import { smClass } from './sm'
import { srClass } from './sr'
import { taskClass } from './task'
import { vbdClass } from './vbd'
import { vdiClass } from './vdi'
import { vifClass } from './vif'
import { vmClass } from './vm'
import { vmGuestMetricsClass } from './vm-guest-metrics'
import { vmMetricsClass } from './vm-metrics'

/** Every class the simulator keeps, in XAPI's datamodel order. */
export const simulatedClasses: readonly ClassSchema[] = [
  poolClass,
  hostClass,
  hostMetricsClass,
  hostCpuClass,
  srClass,
  pbdClass,
  vmClass,
  vmMetricsClass,
  vmGuestMetricsClass,
  vbdClass,
  vdiClass,
  networkClass,
  pifClass,
  vifClass,
  taskClass,
  messageClass,
  secretClass,
  blobClass,
  consoleClass,
  smClass,
]

const byName = new Map(simulatedClasses.map((schema) => [schema.name, schema]))
const byLowerName = new Map(simulatedClasses.map((schema) => [schema.name.toLowerCase(), schema]))

export function findClass(name: string): ClassSchema | undefined {
  return byName.get(name)
}

export function getClass(name: string): ClassSchema {
  const schema = byName.get(name)
  if (schema === undefined) throw new Error(`the simulator has no class ${name}`)
  return schema
}

/** Event subscriptions and `valid_ref_counts` use lowercase class names. */
export function findClassByLowerName(lowerName: string): ClassSchema | undefined {
  return byLowerName.get(lowerName)
}
