import type { StorageLink } from '../../integration/storage-link'
import type { MethodRegistry } from '../../rpc/method'
import { srMethods } from './sr-methods'
import { vdiCbtMethods } from './vdi-cbt'
import { vdiLifecycleMethods } from './vdi-lifecycle'
import { vmCloneMethods } from './vm-clone'
import { vmSnapshotMethods } from './vm-snapshot'
import { vmSuspendMethods } from './vm-suspend'

export { SNAPSHOT_PROBE } from './vm-snapshot'

/** The XAPI methods that need the storage manager: VDI and SR storage operations, VM snapshots, clones, suspend. */
export function registerStorageMethods(registry: MethodRegistry, link: StorageLink): void {
  registry.register(
    ...vdiLifecycleMethods(link),
    ...vdiCbtMethods(link),
    ...srMethods(link),
    ...vmSnapshotMethods(link),
    ...vmCloneMethods(link),
    ...vmSuspendMethods(link),
  )
}
