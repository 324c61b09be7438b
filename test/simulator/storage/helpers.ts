import { createCipheriv, createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import {
  type KnobsInput,
  MemoryRecordView,
  type SrEngine,
  StorageManager,
  type StorageManagerOptions,
  sizes,
} from '../../../simulator/storage'

export const { MiB, GiB, BLOCK_SIZE } = sizes

/** Knobs for tests: no quiet period, a coalesce that takes no noticeable time. */
export const fastKnobs: KnobsInput = { gcQuietPeriodMs: 0, coalesceBytesPerSecond: 1e15 }

const directories: string[] = []
const managers: StorageManager[] = []

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.close()
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true })
})

export async function stateDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'sim-storage-'))
  directories.push(directory)
  return directory
}

export async function openManager(
  options: Partial<StorageManagerOptions> & { knobs?: KnobsInput } = {},
): Promise<{ manager: StorageManager; records: MemoryRecordView; stateDir: string }> {
  const stateDir = options.stateDir ?? (await stateDirectory())
  const records = (options.records as MemoryRecordView | undefined) ?? new MemoryRecordView()
  const manager = await StorageManager.open({ stateDir, records, knobs: { ...fastKnobs, ...options.knobs } })
  managers.push(manager)
  return { manager, records, stateDir }
}

/** Closes a manager opened by `openManager` before the test ends (to reopen its state directory). */
export async function closeManager(manager: StorageManager): Promise<void> {
  const i = managers.indexOf(manager)
  if (i >= 0) managers.splice(i, 1)
  await manager.close()
}

/** Deterministic test bytes (AES-CTR keystream of the seed: fast for megabytes). */
export function pattern(length: number, seed: number): Buffer {
  const key = createHash('sha256').update(`test pattern ${seed}`).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  return cipher.update(Buffer.alloc(length))
}

export function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** SHA-256 of every block of a VDI's merged view, in order. */
export async function contentDigest(sr: SrEngine, vdi: string): Promise<string[]> {
  const facts = sr.vdi(vdi)
  const blocks = Math.ceil(facts.virtualSize / BLOCK_SIZE)
  const digests: string[] = []
  for (let i = 0; i < blocks; i++) digests.push(sha(await sr.readBlock(vdi, i)))
  return digests
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<{ code: string; params: readonly string[] }> {
  try {
    await promise
  } catch (error) {
    return error as { code: string; params: readonly string[] }
  }
  throw new Error('expected the operation to fail, it succeeded')
}

/** Byte equality without vitest's element-by-element diff (far too slow for megabytes). */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`)
  if (Buffer.compare(actual, expected) === 0) return
  let i = 0
  while (actual[i] === expected[i]) i++
  throw new Error(`${what}: first difference at offset ${i} (${actual[i]} instead of ${expected[i]})`)
}
