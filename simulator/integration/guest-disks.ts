import { createCipheriv, createHash } from 'node:crypto'
import { z } from 'zod'
import { deviceNumber } from '../methods/vm'
import { isNullRef } from '../model/values'
import { XapiError } from '../rpc/errors'
import type { SrEngine } from '../storage'
import { BLOCK_SIZE } from '../storage/sizes'
import type { StorageLink } from './storage-link'

/**
 * What a guest does to its disks, for tests and demos: writes at any offset (a new block of the leaf
 * on the first write, as a VHD does), deterministic pseudo-random patterns ("change 10 % of the disk"),
 * and reading a disk's contents back or its SHA-256 to compare with a restore.
 */

/** A disk: a VDI (ref or uuid), or a VM (ref, uuid or name) and the index of its disk by device order. */
export const DiskTargetSchema = z.union([
  z.object({ vdi: z.string().min(1) }).strict(),
  z.object({ vm: z.string().min(1), disk: z.number().int().nonnegative().default(0) }).strict(),
])
export type DiskTarget = z.input<typeof DiskTargetSchema>

export interface ResolvedDisk {
  readonly vdi: string
  readonly uuid: string
  readonly engine: SrEngine
  readonly size: number
}

export function resolveDisk(link: StorageLink, target: DiskTarget): ResolvedDisk {
  const { db } = link.core
  let vdi: string
  if ('vdi' in target) vdi = link.vdiRefOf(target.vdi)
  else {
    const vm = db.exists('VM', target.vm)
      ? target.vm
      : ((db.findByUuid(target.vm)?.cls === 'VM' ? db.findByUuid(target.vm)!.ref : undefined) ??
        uniqueByName(link, target.vm))
    const disks = (db.get('VM', vm).VBDs as readonly string[])
      .map((vbd) => db.get('VBD', vbd))
      .filter((vbd) => vbd.type === 'Disk' && vbd.empty !== true && !isNullRef(String(vbd.VDI)))
      .sort((a, b) => (deviceNumber(String(a.userdevice)) ?? 0) - (deviceNumber(String(b.userdevice)) ?? 0))
    const index = target.disk ?? 0
    const vbd = disks[index]
    if (vbd === undefined) {
      throw new XapiError('INVALID_VALUE', [
        'disk',
        `VM ${target.vm} has ${disks.length} disks, there is no disk ${index}`,
      ])
    }
    vdi = String(vbd.VDI)
  }
  const engine = link.engineOfVdi(vdi)
  const uuid = link.vdiUuid(vdi)
  return { vdi, uuid, engine, size: link.guard(() => engine.vdi(uuid)).virtualSize }
}

function uniqueByName(link: StorageLink, name: string): string {
  const matches = link.core.db.filter('VM', (vm) => vm.name_label === name && vm.is_a_snapshot !== true)
  if (matches.length !== 1) {
    throw new XapiError('INVALID_VALUE', [
      'vm',
      `${matches.length} VMs are named ${JSON.stringify(name)}: give a ref or uuid`,
    ])
  }
  return matches[0]!
}

/**
 * The pattern bytes at `[offset, offset + length)` for `seed`: AES-128-CTR keystream positioned by
 * absolute offset, so any range can be recomputed independently (tests build expected images with it).
 */
export function patternBytes(seed: number, offset: number, length: number): Buffer {
  const key = createHash('sha256').update(`xcp-backup guest pattern ${seed}`).digest().subarray(0, 16)
  const iv = Buffer.alloc(16)
  const counter = BigInt(Math.floor(offset / 16))
  iv.writeBigUInt64BE(counter >> 64n, 0)
  iv.writeBigUInt64BE(counter & 0xffffffffffffffffn, 8)
  const skip = offset % 16
  const cipher = createCipheriv('aes-128-ctr', key, iv)
  return cipher.update(Buffer.alloc(length + skip)).subarray(skip)
}

function checkRange(disk: ResolvedDisk, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > disk.size
  ) {
    throw new XapiError('INVALID_VALUE', [
      'offset',
      `[${offset}, ${offset + length}) is not inside the disk's ${disk.size} bytes`,
    ])
  }
}

export async function writeDisk(
  link: StorageLink,
  target: DiskTarget,
  offset: number,
  data: Uint8Array,
): Promise<void> {
  const disk = resolveDisk(link, target)
  checkRange(disk, offset, data.length)
  await link.call(() => disk.engine.write(disk.uuid, offset, data))
}

/** Writes the pattern of `seed` over `[offset, offset + length)`, a block at a time. */
export async function writePattern(
  link: StorageLink,
  target: DiskTarget,
  pattern: { seed: number; offset: number; length: number },
): Promise<void> {
  const disk = resolveDisk(link, target)
  checkRange(disk, pattern.offset, pattern.length)
  const end = pattern.offset + pattern.length
  let position = pattern.offset
  const head = Math.min(end, Math.ceil(position / BLOCK_SIZE) * BLOCK_SIZE)
  if (head > position) {
    await link.call(() => disk.engine.write(disk.uuid, position, patternBytes(pattern.seed, position, head - position)))
    position = head
  }
  const wholeEnd = Math.floor(end / BLOCK_SIZE) * BLOCK_SIZE
  const first = position / BLOCK_SIZE
  async function* blocks() {
    for (let index = first; index * BLOCK_SIZE < wholeEnd; index++) {
      yield { index, data: patternBytes(pattern.seed, index * BLOCK_SIZE, BLOCK_SIZE) }
    }
  }
  if (wholeEnd > position) await link.call(() => disk.engine.writeBlocks(disk.uuid, blocks()))
  position = Math.max(position, wholeEnd)
  if (end > position)
    await link.call(() => disk.engine.write(disk.uuid, position, patternBytes(pattern.seed, position, end - position)))
}

/**
 * Rewrites `round(fraction × blocks)` whole blocks chosen from `seed` with the pattern of `seed`
 * ("the guest changed 10 % of its disk"); returns the block indices, ascending.
 */
export async function changeBlocks(
  link: StorageLink,
  target: DiskTarget,
  change: { seed: number; fraction: number },
): Promise<number[]> {
  const disk = resolveDisk(link, target)
  if (!(change.fraction >= 0 && change.fraction <= 1)) {
    throw new XapiError('INVALID_VALUE', ['fraction', `${change.fraction} is not between 0 and 1`])
  }
  const count = Math.floor(disk.size / BLOCK_SIZE)
  const wanted = Math.round(change.fraction * count)
  // A seeded partial Fisher-Yates shuffle picks distinct blocks.
  const order = Array.from({ length: count }, (_, i) => i)
  const random = patternBytes(change.seed, 0, wanted * 4)
  for (let i = 0; i < wanted; i++) {
    const j = i + (random.readUInt32BE(i * 4) % (count - i))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const chosen = order.slice(0, wanted).sort((a, b) => a - b)
  async function* blocks() {
    for (const index of chosen) yield { index, data: patternBytes(change.seed, index * BLOCK_SIZE, BLOCK_SIZE) }
  }
  await link.call(() => disk.engine.writeBlocks(disk.uuid, blocks()))
  return chosen
}

export async function readDisk(link: StorageLink, target: DiskTarget, offset: number, length: number): Promise<Buffer> {
  const disk = resolveDisk(link, target)
  checkRange(disk, offset, length)
  return link.call(() => disk.engine.read(disk.uuid, offset, length))
}

/** SHA-256 of the whole disk image, read a block at a time (blocks allocated nowhere are zeros). */
export async function diskDigest(
  link: StorageLink,
  target: DiskTarget,
): Promise<{ sha256: string; virtualSize: number }> {
  const disk = resolveDisk(link, target)
  const hash = createHash('sha256')
  const allocated = new Set(await link.call(() => disk.engine.blocksToExport(disk.uuid)))
  const count = Math.ceil(disk.size / BLOCK_SIZE)
  const zero = Buffer.alloc(BLOCK_SIZE)
  for (let index = 0; index < count; index++) {
    const length = Math.min(BLOCK_SIZE, disk.size - index * BLOCK_SIZE)
    hash.update(
      allocated.has(index) ? await link.call(() => disk.engine.readBlock(disk.uuid, index)) : zero.subarray(0, length),
    )
  }
  return { sha256: hash.digest('hex'), virtualSize: disk.size }
}
