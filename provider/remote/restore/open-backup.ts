import { posix } from 'node:path'
import type { Readable } from 'node:stream'
import { openVhdChain, type VhdChain } from '../../disk/vhd/chain'
import { createVhdStream, vhdStreamLength } from '../../disk/vhd/stream-writer'
import type { RemoteBackend } from '../backend'
import { isRemoteError, RemoteError } from '../errors'
import type { DeltaBackupMetadata, FullBackupMetadata } from '../layout/metadata'
import { checksumPath, resolveInside } from '../layout/paths'
import { readMetadata } from '../maintenance/vm-directory'
import { normalizeRemotePath } from '../path'
import { readSmallFile } from '../small-files'
import { readOnlyBackend } from './read-only'
import { checkedXvaStream } from './xva-stream'

/**
 * Reading a backup back for a restore (docs/remote-format.md §10): a full backup as its XVA, a delta
 * backup as one disk image per VDI (the merged view of its VHD chain, whatever point of the chain the
 * backup is), plus the XAPI records a restore recreates the VM from. Nothing here writes to the
 * remote; memory stays at one block (plus each chain's BATs) whatever the disk size.
 */

export type BackupReader = FullBackupReader | DeltaBackupReader

export interface FullBackupReader {
  mode: 'full'
  /** The metadata file. */
  path: string
  metadata: FullBackupMetadata
  xvaPath: string
  /** The XVA's bytes as stored (for XAPI's `PUT /import`), without checks. */
  xvaBytes(): Promise<Readable>
  /** The same bytes, checked as they pass (chunk hashes, end marker, `.checksum`): fails rather than end silently on damage. */
  checkedXva(): Promise<Readable>
}

export interface DeltaBackupReader {
  mode: 'delta'
  path: string
  metadata: DeltaBackupMetadata
  /** What a restore recreates the VM from, as XAPI returned it when the backup was made. */
  records: RestoreRecords
  disks: DeltaDisk[]
  /** Opens one disk's VHD chain (`ref` is the VDI's OpaqueRef as the metadata keys it). */
  openDisk(ref: string): Promise<DiskImage>
}

export interface RestoreRecords {
  vm: DeltaBackupMetadata['vm']
  vmSnapshot: DeltaBackupMetadata['vmSnapshot']
  vbds: DeltaBackupMetadata['vbds']
  vdis: DeltaBackupMetadata['vdis']
  vifs: DeltaBackupMetadata['vifs']
  vtpms: unknown[]
}

export interface DeltaDisk {
  ref: string
  vdi: DeltaBackupMetadata['vdis'][string]
  /** The VBDs of the VM that attach this disk. */
  vbds: DeltaBackupMetadata['vbds'][string][]
  /** The backup's own VHD (the leaf of its chain). */
  vhdPath: string
}

export interface DiskImage {
  ref: string
  virtualSize: number
  /** VHD paths of the chain, the backup's own first, down to the full. */
  chain: string[]
  /** Blocks allocated anywhere in the chain: what the VHD stream carries. */
  allocatedBlocks: number
  /** Bytes of `vhdStream()`, for a Content-Length. */
  vhdStreamLength: number
  /**
   * The chain's merged view as one dynamic VHD in XAPI's export layout, for
   * `PUT /import_raw_vdi?format=vhd`. Closes the image when it ends or is destroyed.
   */
  vhdStream(): Readable
  /** Every byte of the virtual disk. Closes the image when it ends or is destroyed. */
  rawStream(): Readable
  close(): Promise<void>
}

/** Opens the backup whose metadata file is `metadataPath` (e.g. `xo-vm-backups/<vm>/<ts>.json`). */
export async function openBackup(remote: RemoteBackend, metadataPath: string): Promise<BackupReader> {
  const backend = readOnlyBackend(remote)
  const path = normalizeRemotePath(metadataPath)
  const vmDir = posix.dirname(path)
  const read = await readMetadata(backend, vmDir, path).catch((error: unknown) => {
    if (isRemoteError(error, 'ENOENT')) {
      throw new RemoteError('ENOENT', `no backup "${path}" on remote ${backend.name}: list them with xcp-backup ls`, {
        remote: backend.name,
        path,
        cause: error,
      })
    }
    throw error
  })
  if (read.status !== 'ok') {
    throw new RemoteError('EINVALID', `backup "${path}" on remote ${backend.name} cannot be restored: ${read.reason}`, {
      remote: backend.name,
      path,
    })
  }
  const metadata = read.metadata
  if (metadata.mode === 'full') {
    const xvaPath = read.requiredFiles[0]!
    return {
      mode: 'full',
      path,
      metadata,
      xvaPath,
      xvaBytes: () => backend.read(xvaPath),
      checkedXva: async () =>
        checkedXvaStream(await backend.read(xvaPath), { name: xvaPath, md5: await readChecksum(backend, xvaPath) }),
    }
  }
  const disks = Object.entries(metadata.vhds).map(([ref, relative]) => ({
    ref,
    vdi: metadata.vdis[ref]!,
    vbds: Object.values(metadata.vbds).filter((vbd) => vbd.VDI === ref),
    vhdPath: resolveInside(vmDir, vmDir, relative),
  }))
  return {
    mode: 'delta',
    path,
    metadata,
    records: {
      vm: metadata.vm,
      vmSnapshot: metadata.vmSnapshot,
      vbds: metadata.vbds,
      vdis: metadata.vdis,
      vifs: metadata.vifs,
      vtpms: metadata.vtpms ?? [],
    },
    disks,
    openDisk: async (ref) => {
      const disk = disks.find((d) => d.ref === ref)
      if (disk === undefined) {
        throw new RemoteError(
          'EINVALID',
          `backup "${path}" has no disk ${ref}; its disks are ${disks.map((d) => d.ref).join(', ')}`,
          { remote: backend.name, path },
        )
      }
      const chain = await openVhdChain(disk.vhdPath, (file) => backend.open(insideVmDir(vmDir, file), 'read'))
      return diskImage(ref, chain)
    },
  }
}

function diskImage(ref: string, chain: VhdChain): DiskImage {
  const blocks = chain.allocatedBlocks()
  const spec = {
    virtualSize: chain.virtualSize,
    diskType: 'dynamic' as const,
    uuid: chain.leaf.uuid,
    blocks,
    blockSize: chain.blockSize,
    readBlock: (index: number) => chain.readBlock(index),
  }
  let closed: Promise<void> | undefined
  const close = () => {
    closed ??= chain.close()
    return closed
  }
  const closing = (stream: Readable) => {
    stream.once('close', () => void close())
    return stream
  }
  return {
    ref,
    virtualSize: chain.virtualSize,
    chain: chain.disks.map((disk) => disk.name ?? ''),
    allocatedBlocks: blocks.length,
    vhdStreamLength: vhdStreamLength(spec),
    vhdStream: () => closing(createVhdStream(spec)),
    rawStream: () => closing(chain.rawStream()),
    close,
  }
}

/** Chains stay inside the backup's VM directory, whatever a parent locator says. */
function insideVmDir(vmDir: string, path: string): string {
  const normalized = posix.normalize(path)
  if (!normalized.startsWith(`${vmDir}/`)) {
    throw new Error(`the VHD chain leads to "${path}", outside the VM's backup directory ${vmDir}`)
  }
  return normalized
}

/** The MD5 of a `.xva.checksum` file (`$1$$<md5 hex>`, XO's format), if there is one. */
async function readChecksum(backend: RemoteBackend, xvaPath: string): Promise<string | undefined> {
  try {
    const text = (await readSmallFile(backend, checksumPath(xvaPath), 4096)).toString('utf8').trim()
    const match = /^\$1\$\$([0-9a-f]{32})$/i.exec(text)
    return match?.[1]
  } catch (error) {
    if (isRemoteError(error, 'ENOENT')) return undefined
    throw error
  }
}
