import type { PoolInventory } from '../pool/inventory'
import { COPY_OF_KEY, CR_SR_KEY, type ReplicaFacts, type SnapshotFacts } from './replication-snapshots'

/** The facts the CR snapshot rules read, gathered from the inventories of every pool looked at. */

/** Every VM snapshot of a pool, with its source VM and disks. */
export function snapshotFacts(inventory: PoolInventory): SnapshotFacts[] {
  const facts: SnapshotFacts[] = []
  for (const vm of inventory.vms.values()) {
    if (!vm.isSnapshot) continue
    const source = inventory.vms.get(vm.snapshotOf)
    facts.push({
      uuid: vm.uuid,
      name: vm.name,
      isSnapshot: true,
      otherConfig: vm.otherConfig,
      ...(source === undefined ? {} : { vm: { uuid: source.uuid, name: source.name } }),
      vdiUuids: inventory.disksOf(vm.ref).map((vdi) => vdi.uuid),
    })
  }
  return facts
}

/** SRs and the replicas on them, over several pools (a target SR may be in another pool than its sources). */
export function replicaFacts(inventories: readonly PoolInventory[]): ReplicaFacts {
  const srs = new Map<string, { name: string }>()
  const copiesOn = new Map<string, Set<string>>()
  const note = (srUuid: string, copyOf: string | undefined) => {
    if (copyOf === undefined || copyOf === '') return
    const key = srUuid.toLowerCase()
    const copies = copiesOn.get(key) ?? new Set<string>()
    copiesOn.set(key, copies)
    copies.add(copyOf)
  }
  for (const inventory of inventories) {
    for (const sr of inventory.srs.values()) srs.set(sr.uuid.toLowerCase(), { name: sr.name })
    for (const vdi of inventory.vdis.values()) {
      const sr = inventory.srs.get(vdi.sr)
      if (sr !== undefined) note(sr.uuid, vdi.otherConfig[COPY_OF_KEY])
    }
    for (const vm of inventory.vms.values()) {
      const copyOf = vm.otherConfig[COPY_OF_KEY]
      if (copyOf === undefined) continue
      const marked = vm.otherConfig[CR_SR_KEY]
      if (marked !== undefined) note(marked, copyOf)
      for (const vdi of inventory.disksOf(vm.ref)) {
        const sr = inventory.srs.get(vdi.sr)
        if (sr !== undefined) note(sr.uuid, copyOf)
      }
    }
  }
  return { srs, copiesOn }
}
