/**
 * Continuous-replication (CR) snapshots on source VMs, and when they are orphaned. Pure rules over facts
 * read from the pools, shared by the ReplicationTarget provider (read, diff, repair) and `xcp-backup drift`.
 *
 * A CR run keeps, on each source VM, the snapshot the next delta is computed from. Its target SR is named
 * in one of two ways:
 *
 * - legacy XO, and xcp-backup's runner: the snapshot's name_label `XO_DELTA_EXPORT: <SR name> (<SR uuid>)`
 *   (reference/001 "Could not find the base VM");
 * - newer XO: `other_config['xo:backup:sr']` = the target SR's uuid.
 *
 * Snapshots of replicas (on the target side) inherit the replica's other_config, including
 * `xo:backup:sr`, and also carry `xo:copy_of`: those are not source snapshots and are never considered.
 *
 * A CR snapshot is **orphaned** when no replica can continue from it:
 *
 * - `sr-missing`: its target SR does not exist in any pool looked at;
 * - `no-replica`: the SR exists, but nothing on it chains from the snapshot: no VM with a disk on that SR
 *   (or marked `xo:backup:sr` = that SR) and no VDI on that SR has `other_config['xo:copy_of']` equal to
 *   the snapshot's uuid or to the uuid of one of the snapshot's VDIs. (Legacy XO marked the replica VM
 *   with the source snapshot's uuid; newer XO marks each replica VDI with the source snapshot VDI's.)
 *
 * An orphan keeps a full copy of the disks' changes alive on the source SR and lengthens the VHD chain;
 * XO's answer to "Could not find the base VM" is to delete it so the next run starts a new chain.
 */

export const LEGACY_CR_SNAPSHOT_PREFIX = 'XO_DELTA_EXPORT: '
const LEGACY_NAME = /^XO_DELTA_EXPORT: (.*) \(([0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})\)$/
export const CR_SR_KEY = 'xo:backup:sr'
export const COPY_OF_KEY = 'xo:copy_of'

/** The name xcp-backup's runner gives the CR snapshot it keeps on a source VM. */
export function replicationSnapshotName(srName: string, srUuid: string): string {
  return `${LEGACY_CR_SNAPSHOT_PREFIX}${srName} (${srUuid})`
}

export interface SnapshotFacts {
  uuid: string
  name: string
  isSnapshot: boolean
  otherConfig: Readonly<Record<string, string>>
  /** The VM it is a snapshot of, when that VM still exists. */
  vm?: { uuid: string; name: string }
  vdiUuids: readonly string[]
}

export type CrMarker = 'legacy-name' | 'xo:backup:sr'

export interface CrSnapshot {
  snapshot: SnapshotFacts
  srUuid: string
  marker: CrMarker
}

/** The target SR a source snapshot replicates to, or undefined when it is not a CR source snapshot. */
export function crSnapshotTarget(snapshot: SnapshotFacts): Omit<CrSnapshot, 'snapshot'> | undefined {
  if (!snapshot.isSnapshot || snapshot.otherConfig[COPY_OF_KEY] !== undefined) return undefined
  const legacy = LEGACY_NAME.exec(snapshot.name)
  if (legacy !== null) return { srUuid: legacy[2]!.toLowerCase(), marker: 'legacy-name' }
  const sr = snapshot.otherConfig[CR_SR_KEY]
  if (sr !== undefined && sr !== '') return { srUuid: sr.toLowerCase(), marker: 'xo:backup:sr' }
  return undefined
}

/** What the pools say about the SRs CR snapshots point at. */
export interface ReplicaFacts {
  /** Every SR of the pools looked at, by uuid (lower case). */
  srs: ReadonlyMap<string, { name: string }>
  /** Per SR uuid: the `xo:copy_of` values of the replicas (VMs and VDIs) on it. */
  copiesOn: ReadonlyMap<string, ReadonlySet<string>>
}

export type OrphanReason = 'sr-missing' | 'no-replica'

export interface OrphanedSnapshot {
  uuid: string
  name: string
  vmUuid: string
  vmName: string
  srUuid: string
  reason: OrphanReason
  marker: CrMarker
  /** One sentence for people: what it is and why it is orphaned. */
  message: string
}

export function findOrphanedCrSnapshots(
  snapshots: readonly SnapshotFacts[],
  replicas: ReplicaFacts,
): OrphanedSnapshot[] {
  const orphans: OrphanedSnapshot[] = []
  for (const snapshot of snapshots) {
    const target = crSnapshotTarget(snapshot)
    if (target === undefined) continue
    const reason = orphanReason(snapshot, target.srUuid, replicas)
    if (reason === undefined) continue
    const vm = snapshot.vm ?? { uuid: '', name: '' }
    const on = vm.name === '' ? 'a VM that no longer exists' : `VM ${JSON.stringify(vm.name)}`
    const sr = replicas.srs.get(target.srUuid)
    orphans.push({
      uuid: snapshot.uuid,
      name: snapshot.name,
      vmUuid: vm.uuid,
      vmName: vm.name,
      srUuid: target.srUuid,
      reason,
      marker: target.marker,
      message:
        reason === 'sr-missing'
          ? `replication snapshot ${JSON.stringify(snapshot.name)} (${snapshot.uuid}) on ${on} points at SR ${target.srUuid}, which does not exist in any configured pool`
          : `replication snapshot ${JSON.stringify(snapshot.name)} (${snapshot.uuid}) on ${on} has no replica on SR ${JSON.stringify(sr?.name)} (${target.srUuid}) that continues from it`,
    })
  }
  return orphans.sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0))
}

function orphanReason(snapshot: SnapshotFacts, srUuid: string, replicas: ReplicaFacts): OrphanReason | undefined {
  if (!replicas.srs.has(srUuid)) return 'sr-missing'
  const copies = replicas.copiesOn.get(srUuid)
  if (copies === undefined) return 'no-replica'
  if (copies.has(snapshot.uuid) || snapshot.vdiUuids.some((vdi) => copies.has(vdi))) return undefined
  return 'no-replica'
}
