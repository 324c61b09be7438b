import { randomBytes, randomUUID } from 'node:crypto'
import { posix } from 'node:path'
import { rewriteVhdStream } from '../provider/disk/vhd/rewrite'
import { createVhdStream } from '../provider/disk/vhd/stream-writer'
import type { RemoteBackend } from '../provider/remote/backend'
import { saveDeltaDisk } from '../provider/remote/layout/backup-data'
import type { NewDeltaBackupMetadata } from '../provider/remote/layout/metadata'
import { commitVmBackup } from '../provider/remote/layout/vm-backups'

/**
 * A delta chain for the merge benchmark, stored as the backup pipeline stores it: a dynamic full,
 * then differencing deltas, each a VHD rewritten with its snapshot uuid and chained by relative path,
 * committed by its metadata. Block contents are cheap to make (a few random blocks stamped with
 * their index), since what is measured is moving them, not what they hold.
 */
export const BLOCK = 2 * 1024 * 1024

export interface ChainSpec {
  virtualSize: number
  /** Blocks allocated in the full. */
  fullBlocks: number
  /** Number of deltas after the full. */
  deltas: number
  /** Blocks each delta changes (at random positions). */
  changedBlocks: number
}

export interface BenchChain {
  vmUuid: string
  scheduleId: string
  /** Bytes of block data in the deltas: what merging them all moves. */
  deltaBytes: number
}

const palette = Array.from({ length: 8 }, () => randomBytes(BLOCK))

function blockContent(index: number, generation: number): Buffer {
  const block = Buffer.from(palette[(index + generation) % palette.length]!)
  block.writeUInt32BE(index, 0)
  block.writeUInt32BE(generation, 4)
  return block
}

function randomIndices(n: number, count: number): number[] {
  const set = new Set<number>()
  while (set.size < Math.min(n, count)) set.add(Math.floor(Math.random() * count))
  return [...set].sort((a, b) => a - b)
}

export async function writeBenchChain(backend: RemoteBackend, spec: ChainSpec): Promise<BenchChain> {
  const vmUuid = randomUUID()
  const jobId = randomUUID()
  const scheduleId = randomUUID()
  const liveUuid = randomUUID()
  const ref = 'OpaqueRef:bench-disk'
  const entries = Math.ceil(spec.virtualSize / BLOCK)
  let previous: { uuid: string; vhd: string } | undefined
  let deltaBytes = 0
  for (let generation = 0; generation <= spec.deltas; generation++) {
    const timestamp = Date.UTC(2024, 0, 1) + generation * 86_400_000
    const blocks = randomIndices(generation === 0 ? spec.fullBlocks : spec.changedBlocks, entries)
    if (generation > 0) deltaBytes += blocks.length * BLOCK
    const uuid = randomUUID()
    const exported = createVhdStream({
      virtualSize: spec.virtualSize,
      diskType: previous === undefined ? 'dynamic' : 'differencing',
      uuid: randomUUID(),
      parent: previous === undefined ? undefined : { uuid: randomUUID(), timestamp: 0, name: 'base.vhd' },
      blocks,
      readBlock: async (index) => blockContent(index, generation),
    })
    const stored = rewriteVhdStream(exported, {
      uuid,
      parent: previous === undefined ? undefined : { uuid: previous.uuid, relativePath: posix.basename(previous.vhd) },
    })
    const { vhd, size } = await saveDeltaDisk(backend, { vmUuid, jobId, vdiUuid: liveUuid, timestamp }, stored)
    const metadata: NewDeltaBackupMetadata = {
      version: '2.0.0',
      mode: 'delta',
      jobId,
      scheduleId,
      timestamp,
      vm: { uuid: vmUuid, name_label: 'bench' },
      vmSnapshot: { uuid: randomUUID(), name_label: 'bench snapshot' },
      vhds: { [ref]: vhd },
      isVhdDifferencing: { [ref]: previous !== undefined },
      vdis: { [ref]: { uuid, virtual_size: spec.virtualSize, $snapshot_of$uuid: liveUuid } },
      vbds: {},
      vifs: {},
      vtpms: [],
      size,
      tags: [],
    }
    await commitVmBackup(backend, metadata)
    previous = { uuid, vhd }
  }
  return { vmUuid, scheduleId, deltaBytes }
}
