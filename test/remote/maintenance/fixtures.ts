import { randomBytes, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { expect } from 'vitest'
import { openLocalFile } from '../../../provider/disk/io'
import { rewriteVhdStream } from '../../../provider/disk/vhd/rewrite'
import { parseVhdStream } from '../../../provider/disk/vhd/stream-parser'
import { createVhdStream } from '../../../provider/disk/vhd/stream-writer'
import { checkVhdFile } from '../../../provider/disk/vhd/vhd-file'
import { createXvaStream } from '../../../provider/disk/xva/xva-writer'
import type { RemoteBackend } from '../../../provider/remote/backend'
import { saveDeltaDisk, saveFullBackupData } from '../../../provider/remote/layout/backup-data'
import type { NewDeltaBackupMetadata, NewFullBackupMetadata } from '../../../provider/remote/layout/metadata'
import { metadataPath, vmBackupDir } from '../../../provider/remote/layout/paths'
import { commitVmBackup } from '../../../provider/remote/layout/vm-backups'
import { openBackup } from '../../../provider/remote/restore/open-backup'
import { sh } from '../../disk/helpers'

/**
 * Realistic repositories, written the way the backup pipeline writes them: XAPI-layout VHD streams
 * (a dynamic full, then differencing deltas of random changed blocks) rewritten with the snapshot
 * VDI uuid and chained to the previous file by relative path (`rewriteVhdStream`), stored with the
 * atomic protocol and a VHD validator (`saveDeltaDisk`), committed by their metadata
 * (`commitVmBackup`). Each backup remembers the content each disk had, block by block, so restores
 * can be judged byte for byte.
 */

export const MiB = 1024 * 1024
export const BLOCK = 2 * MiB
/** 2024-05-01T03:00:00Z, a Wednesday. */
export const T0 = Date.UTC(2024, 4, 1, 3, 0, 0)
export const HOUR = 3_600_000
export const DAY = 24 * HOUR

export interface DiskSpec {
  /** The VDI's OpaqueRef in the metadata. */
  ref: string
  /** The live VDI's uuid: names the VDI directory. */
  liveUuid: string
  virtualSize: number
}

/** Block index → its 2 MiB content; missing blocks read as zeros. */
export type DiskContent = ReadonlyMap<number, Buffer>

export interface BuiltBackup {
  path: string
  timestamp: number
  mode: 'full' | 'delta'
  scheduleId: string
  /** Per disk ref: the VHD written (remote path) and the content the disk had. */
  disks: Map<string, { vhd: string; uuid: string; content: DiskContent }>
  committed: boolean
  /** Full backups: the XVA's bytes. */
  xva?: Buffer
}

export interface RepositoryOptions {
  vmUuid?: string
  jobId?: string
  scheduleId?: string
  disks?: DiskSpec[]
}

export function diskSpec(virtualSize = 32 * MiB): DiskSpec {
  return { ref: `OpaqueRef:${randomUUID()}`, liveUuid: randomUUID(), virtualSize }
}

export class Repository {
  readonly vmUuid: string
  readonly jobId: string
  readonly scheduleId: string
  readonly disks: DiskSpec[]
  readonly backups: BuiltBackup[] = []

  constructor(
    readonly backend: RemoteBackend,
    options: RepositoryOptions = {},
  ) {
    this.vmUuid = options.vmUuid ?? randomUUID()
    this.jobId = options.jobId ?? randomUUID()
    this.scheduleId = options.scheduleId ?? randomUUID()
    this.disks = options.disks ?? [diskSpec()]
  }

  get dir(): string {
    return vmBackupDir(this.vmUuid)
  }

  /** A delta backup with full disks (the first of a chain): `blocks` per disk are filled with random data. */
  async full(timestamp: number, blocks: Record<string, number[]> | number[], options: BackupOptions = {}) {
    return this.write(timestamp, undefined, (ref) => (Array.isArray(blocks) ? blocks : (blocks[ref] ?? [])), options)
  }

  /** A delta backup on top of `base` (default: the newest backup written): `changed` blocks get new random data. */
  async delta(
    timestamp: number,
    changed: Record<string, number[]> | number[],
    options: BackupOptions & { base?: BuiltBackup } = {},
  ) {
    const base = options.base ?? this.backups.filter((b) => b.mode === 'delta').at(-1)
    if (base === undefined) throw new Error('a delta needs a base: write a full first')
    return this.write(timestamp, base, (ref) => (Array.isArray(changed) ? changed : (changed[ref] ?? [])), options)
  }

  /** A full backup (XVA) with a small random disk. */
  async xva(
    timestamp: number,
    options: { scheduleId?: string; tags?: string[]; diskBytes?: number; compression?: 'gzip' | 'zstd' } = {},
  ) {
    const disk = randomBytes(options.diskBytes ?? 3 * MiB)
    const stream = createXvaStream({
      ovaXml: Buffer.from('<value><struct></struct></value>'),
      disks: [{ ref: 'Ref:1', size: disk.length, readChunk: async (i) => disk.subarray(i * MiB, (i + 1) * MiB) }],
      compression: options.compression,
    })
    const chunks: Buffer[] = []
    const bytes = (async function* () {
      for await (const chunk of stream) {
        chunks.push(chunk as Buffer)
        yield chunk as Buffer
      }
    })()
    const { xva: xvaField, size } = await saveFullBackupData(this.backend, this.vmUuid, timestamp, bytes)
    const xva = Buffer.concat(chunks)
    const scheduleId = options.scheduleId ?? this.scheduleId
    const metadata: NewFullBackupMetadata = {
      version: '2.0.0',
      mode: 'full',
      jobId: this.jobId,
      scheduleId,
      timestamp,
      vm: this.vmRecord(),
      vmSnapshot: { uuid: randomUUID(), name_label: 'web-01 snapshot' },
      xva: xvaField,
      size,
      tags: options.tags ?? [],
    }
    const path = await commitVmBackup(this.backend, metadata)
    const built: BuiltBackup = { path, timestamp, mode: 'full', scheduleId, disks: new Map(), committed: true, xva }
    this.backups.push(built)
    return built
  }

  vdiDir(disk: DiskSpec = this.disks[0]!): string {
    return `${this.dir}/vdis/${this.jobId}/${disk.liveUuid}`
  }

  private async write(
    timestamp: number,
    base: BuiltBackup | undefined,
    blocksOf: (ref: string) => number[],
    options: BackupOptions,
  ): Promise<BuiltBackup> {
    const scheduleId = options.scheduleId ?? this.scheduleId
    const built: BuiltBackup = {
      path: metadataPath(this.vmUuid, timestamp),
      timestamp,
      mode: 'delta',
      scheduleId,
      disks: new Map(),
      committed: false,
    }
    const vhds: Record<string, string> = {}
    const isVhdDifferencing: Record<string, boolean> = {}
    const vdis: NewDeltaBackupMetadata['vdis'] = {}
    const vbds: NewDeltaBackupMetadata['vbds'] = {}
    let size = 0
    for (const disk of this.disks) {
      const previous = base?.disks.get(disk.ref)
      const content = new Map(previous?.content ?? [])
      const blocks = [...new Set(blocksOf(disk.ref))].sort((a, b) => a - b)
      for (const index of blocks) content.set(index, randomBytes(BLOCK))
      const snapshotUuid = randomUUID()
      // What XAPI sends: a fresh random uuid, and (delta) its own idea of the parent.
      const exported = createVhdStream({
        virtualSize: disk.virtualSize,
        diskType: previous === undefined ? 'dynamic' : 'differencing',
        uuid: randomUUID(),
        parent: previous === undefined ? undefined : { uuid: randomUUID(), timestamp: 0, name: 'base.vhd' },
        blocks,
        readBlock: async (index) => content.get(index)!,
      })
      const stored = rewriteVhdStream(exported, {
        uuid: snapshotUuid,
        parent:
          previous === undefined ? undefined : { uuid: previous.uuid, relativePath: posix.basename(previous.vhd) },
      })
      const saved = await saveDeltaDisk(
        this.backend,
        { vmUuid: this.vmUuid, jobId: this.jobId, vdiUuid: disk.liveUuid, timestamp },
        stored,
        {
          validator: async (file, info) => {
            await checkVhdFile(file, { name: info.path })
          },
        },
      )
      size += saved.size
      vhds[disk.ref] = saved.vhd
      isVhdDifferencing[disk.ref] = previous !== undefined
      vdis[disk.ref] = {
        uuid: snapshotUuid,
        name_label: `disk ${disk.ref.slice(-4)}`,
        virtual_size: disk.virtualSize,
        is_a_snapshot: true,
        $snapshot_of$uuid: disk.liveUuid,
        other_config: previous === undefined ? {} : { 'xo:base_delta_vdi': previous.uuid },
      }
      const vbdRef = `OpaqueRef:${randomUUID()}`
      vbds[vbdRef] = { uuid: randomUUID(), VDI: disk.ref, device: 'xvda', userdevice: '0', bootable: true }
      built.disks.set(disk.ref, { vhd: `${this.dir}/${saved.vhd}`, uuid: snapshotUuid, content })
    }
    if (options.commit !== false) {
      const metadata: NewDeltaBackupMetadata = {
        version: '2.0.0',
        mode: 'delta',
        jobId: this.jobId,
        scheduleId,
        timestamp,
        vm: this.vmRecord(),
        vmSnapshot: { uuid: randomUUID(), name_label: 'web-01 snapshot' },
        vhds,
        isVhdDifferencing,
        vdis,
        vbds,
        vifs: {},
        vtpms: [],
        size,
        tags: options.tags ?? [],
      }
      await commitVmBackup(this.backend, metadata)
      built.committed = true
    }
    this.backups.push(built)
    return built
  }

  private vmRecord() {
    return { uuid: this.vmUuid, name_label: 'web-01', is_a_template: false, power_state: 'Running' }
  }
}

export interface BackupOptions {
  scheduleId?: string
  tags?: string[]
  /** false: write the VHDs but not the metadata (a backup interrupted before its commit point). */
  commit?: boolean
}

/** Distinct random block indices in [0, count). */
export function randomBlocks(n: number, count: number): number[] {
  const set = new Set<number>()
  while (set.size < n) set.add(Math.floor(Math.random() * count))
  return [...set].sort((a, b) => a - b)
}

/** Compares a raw disk stream with the content a backup recorded, without holding the disk in memory. */
export async function expectRawEquals(stream: Readable, content: DiskContent, virtualSize: number): Promise<void> {
  const zero = Buffer.alloc(BLOCK)
  let offset = 0
  for await (const chunk of stream) {
    const buffer = chunk as Buffer
    let at = 0
    while (at < buffer.length) {
      const index = Math.floor(offset / BLOCK)
      const inBlock = offset - index * BLOCK
      const n = Math.min(BLOCK - inBlock, buffer.length - at)
      const expected = (content.get(index) ?? zero).subarray(inBlock, inBlock + n)
      if (!buffer.subarray(at, at + n).equals(expected)) {
        throw new Error(`restored bytes differ from the original in block ${index} (disk offset ${offset})`)
      }
      at += n
      offset += n
    }
  }
  expect(offset).toBe(virtualSize)
}

/**
 * Restores every disk of a backup through our chain reader and compares it with what was backed up:
 * the raw stream byte for byte, or (`sparse`, for huge virtual disks) the restore VHD stream, whose
 * blocks must be exactly the recorded ones.
 */
export async function expectBackupRestores(
  backend: RemoteBackend,
  backup: BuiltBackup,
  options: { sparse?: boolean } = {},
): Promise<void> {
  const reader = await openBackup(backend, backup.path)
  if (reader.mode !== 'delta') throw new Error(`${backup.path} is not a delta backup`)
  for (const disk of reader.disks) {
    const expected = backup.disks.get(disk.ref)!
    const image = await reader.openDisk(disk.ref)
    if (options.sparse) await expectVhdStreamEquals(image.vhdStream(), expected.content)
    else await expectRawEquals(image.rawStream(), expected.content, image.virtualSize)
  }
}

/** A restore VHD stream (validated by the stream parser) carries exactly `content`'s blocks. */
export async function expectVhdStreamEquals(stream: Readable, content: DiskContent): Promise<void> {
  const seen: number[] = []
  for await (const item of parseVhdStream(stream)) {
    if (item.type !== 'block') continue
    seen.push(item.index)
    const expected = content.get(item.index) ?? Buffer.alloc(BLOCK)
    if (!item.data.equals(expected)) throw new Error(`restored block ${item.index} differs from the original`)
  }
  expect(seen).toEqual([...content.keys()].sort((a, b) => a - b))
}

/**
 * Judges a backup's restore VHD stream with qemu-img: the stream goes to a file, qemu converts it to
 * raw, and the raw file is compared block by block with what was backed up.
 */
export async function expectQemuReadsRestore(backend: RemoteBackend, backup: BuiltBackup): Promise<void> {
  const reader = await openBackup(backend, backup.path)
  if (reader.mode !== 'delta') throw new Error(`${backup.path} is not a delta backup`)
  const work = await mkdtemp(join(tmpdir(), 'xcp-restore-'))
  try {
    for (const disk of reader.disks) {
      const image = await reader.openDisk(disk.ref)
      const vhd = join(work, 'restore.vhd')
      await pipeline(image.vhdStream(), createWriteStream(vhd))
      await expectQemuRawEquals(vhd, backup.disks.get(disk.ref)!.content, image.virtualSize, work)
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** qemu-img's raw view of a local VHD file compared with recorded content. */
export async function expectQemuRawEquals(
  vhdFile: string,
  content: DiskContent,
  virtualSize: number,
  work: string,
): Promise<void> {
  const raw = join(work, `${randomUUID()}.raw`)
  await sh('qemu-img', [
    'convert',
    '--image-opts',
    `driver=vpc,force_size_calc=current_size,file.filename=${vhdFile}`,
    '-O',
    'raw',
    raw,
  ])
  const file = await openLocalFile(raw)
  try {
    expect(await file.size()).toBe(virtualSize)
    const zero = Buffer.alloc(BLOCK)
    for (let index = 0; index * BLOCK < virtualSize; index++) {
      const length = Math.min(BLOCK, virtualSize - index * BLOCK)
      const actual = await file.read(index * BLOCK, length)
      if (!actual.equals((content.get(index) ?? zero).subarray(0, length))) {
        throw new Error(`qemu-img reads block ${index} of ${vhdFile} differently from the original`)
      }
    }
  } finally {
    await file.close()
    await rm(raw, { force: true })
  }
}

/** Every file below a local directory, relative to it, sorted. */
export async function listTree(root: string, relative = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(join(root, relative), { withFileTypes: true })) {
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`
    if (entry.isDirectory()) out.push(...(await listTree(root, path)))
    else out.push(path)
  }
  return out.sort()
}
