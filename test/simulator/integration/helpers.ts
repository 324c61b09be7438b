import { createHash } from 'node:crypto'
import type { Xapi, XapiRecord } from 'xen-api'
import { DiskType, parseVhdStream, type VhdFooter, type VhdHeader } from '../../../provider/disk'
import { type FixtureInput, fixtureSchema, type RunningSimulator, type SimulatorOptions } from '../../../simulator'
import { eventually, startTestSimulator } from '../helpers'

export const MiB = 2 ** 20
export const GiB = 2 ** 30
export const BLOCK = 2 * MiB

/** Timings for tests: no GC quiet period, an instant coalesce, instant VM snapshots. */
export const fastKnobs = { gcQuietPeriodMs: 0, coalesceBytesPerSecond: 1e15, vmSnapshotMs: 0, vmSnapshotPerDiskMs: 0 }

/**
 * A small pool: one host, an EXT SR and a thick LVM SR of 10 GiB, a running VM with two disks (the
 * second one of an odd size) and a CD drive, a halted VM, an ISO library.
 */
export function smallPool(overrides: Partial<FixtureInput> = {}): FixtureInput {
  return {
    pool: { name: 'Test pool' },
    hosts: [{ name: 'h1' }],
    srs: [
      { name: 'ext', type: 'ext', size: '10GiB', host: 'h1', default: true },
      { name: 'lvm', type: 'lvm', size: '10GiB', host: 'h1' },
      { name: 'isos', type: 'iso', size: '1GiB', shared: true, isos: [{ name: 'tools.iso', size: '6MiB' }] },
    ],
    vms: [
      {
        name: 'vm1',
        powerState: 'Running',
        memory: '64MiB',
        tags: ['prod'],
        otherConfig: { owner: 'tests' },
        cdrom: 'tools.iso',
        disks: [
          { name: 'vm1 root', size: '64MiB', sr: 'ext', used: '50%' },
          { name: 'vm1 data', size: '34MiB', sr: 'ext', used: '0%' },
        ],
      },
      { name: 'halted', powerState: 'Halted', memory: '64MiB', disks: [{ size: '32MiB', sr: 'ext', used: '25%' }] },
    ],
    ...overrides,
  }
}

export async function startPool(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  return startTestSimulator({ fixture: fixtureSchema.parse(smallPool()), knobs: fastKnobs, ...options })
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** The whole body of a getResource response. */
export async function bodyOf(response: { body: AsyncIterable<Uint8Array> }): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of response.body) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks)
}

export interface ParsedVhd {
  footer: VhdFooter
  header: VhdHeader
  /** Block indices present, in stream order. */
  blocks: number[]
}

/**
 * Applies a VHD stream onto `image` (a raw disk image as big as the VHD's virtual size): every block the
 * stream carries replaces the image's bytes there. Applied to an empty image it gives the disk a full
 * export describes; applied to the base's image, the disk a delta describes.
 */
export async function applyVhd(
  stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  image: Buffer,
): Promise<ParsedVhd> {
  let footer: VhdFooter | undefined
  let header: VhdHeader | undefined
  const blocks: number[] = []
  for await (const item of parseVhdStream(stream)) {
    if (item.type === 'footer') footer = item.footer
    if (item.type === 'header') header = item.header
    if (item.type === 'block') {
      if (!item.bitmap.every((byte) => byte === 0xff)) throw new Error(`block ${item.index} has a partial bitmap`)
      const offset = item.index * header!.blockSize
      item.data.copy(image, offset, 0, Math.min(item.data.length, image.length - offset))
      blocks.push(item.index)
    }
  }
  if (footer === undefined || header === undefined) throw new Error('no VHD structures')
  return { footer, header, blocks }
}

export function isDifferencing(footer: VhdFooter): boolean {
  return footer.diskType === DiskType.Differencing
}

/** The raw image of a VDI through the export handler (the reference the tests compare against). */
export async function exportRaw(xapi: Xapi, vdi: string): Promise<Buffer> {
  const response = await xapi.getResource('/export_raw_vdi/', { query: { vdi, format: 'raw' } })
  const data = await bodyOf(response)
  await response.task
  return data
}

/** Byte equality without vitest's per-element diff (too slow for megabytes). */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`)
  if (Buffer.compare(actual, expected) === 0) return
  let i = 0
  while (actual[i] === expected[i]) i++
  throw new Error(`${what}: first difference at offset ${i} (${actual[i]} instead of ${expected[i]})`)
}

/** `VM.snapshot` through the client, once the snapshot and its disks are in the client's cache. */
export async function snapshotVm(xapi: Xapi, vm: string, name: string, method = 'VM.snapshot'): Promise<string> {
  const ref = await xapi.callAsync<string>(method, vm, name)
  await eventually(
    () => {
      const record = xapi.getObject(ref, null) as XapiRecord | null
      if (record === null) return false
      return (record.$VBDs as (XapiRecord | undefined)[]).every(
        (vbd) => vbd !== undefined && (vbd.empty === true || vbd.$VDI !== undefined),
      )
    },
    5000,
    `snapshot ${name} and its disks`,
  )
  return ref
}

/** The disks (VDI records) of a VM, by device order. */
export function disksOf(xapi: Xapi, vm: string): XapiRecord[] {
  return ((xapi.getObject(vm) as XapiRecord).$VBDs as XapiRecord[])
    .filter((vbd) => vbd.type === 'Disk')
    .sort((a, b) => Number(a.userdevice) - Number(b.userdevice))
    .map((vbd) => vbd.$VDI as XapiRecord)
}

/** The VM a VDI is plugged into (its first VBD's). */
export function vmOfDisk(vdi: XapiRecord): string {
  return String((vdi.$VBDs as XapiRecord[])[0]!.VM)
}
