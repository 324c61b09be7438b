import { createHash } from 'node:crypto'
import { statfs } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RemoteBackend } from '../../provider/remote/backend'
import { RemoteError } from '../../provider/remote/errors'

/**
 * The behaviour every backend promises (provider/remote/backend.ts, docs/remote-format.md §4), run
 * against each real backend: a local directory and a real Samba share.
 */
export interface ContractSubject {
  backend: RemoteBackend
  /** The directory holding the remote's files, as this process sees it (to compare free space). */
  localDir: string
  cleanup(): Promise<void>
}

export function describeBackendContract(name: string, setup: () => Promise<ContractSubject>): void {
  describe(`${name} backend contract`, () => {
    let subject: ContractSubject
    let backend: RemoteBackend
    let dirCounter = 0
    // Each test works in its own directory, so tests do not see each other's files.
    const freshDir = async () => {
      const dir = `t${++dirCounter}`
      await backend.mkdir(dir, { recursive: true })
      return dir
    }

    beforeAll(async () => {
      subject = await setup()
      backend = subject.backend
    })
    afterAll(async () => {
      await subject?.cleanup()
    })

    it('saves a stream and reads it back byte for byte, whole and by range', async () => {
      const dir = await freshDir()
      const data = patterned(3 * 1024 * 1024 + 17, 1)
      const result = await backend.save(`${dir}/a.bin`, chunked(data, 65_536))
      expect(result).toEqual({ path: `${dir}/a.bin`, size: data.length })
      expectSameBytes(await readAll(await backend.read(`${dir}/a.bin`)), data)
      expectSameBytes(
        await readAll(await backend.read(`${dir}/a.bin`, { start: 1_000_000, end: 2_500_000 })),
        data.subarray(1_000_000, 2_500_000),
      )
      expectSameBytes(await readAll(await backend.read(`${dir}/a.bin`, { start: data.length - 5 })), data.subarray(-5))
      expectSameBytes(await readAll(await backend.read(`${dir}/a.bin`, { start: 10, end: 10 })), Buffer.alloc(0))
      expect(await backend.list(dir)).toEqual([{ name: 'a.bin', kind: 'file' }])
    })

    it('never shows a partial file under the final name while a save is under way', async () => {
      const dir = await freshDir()
      const total = 40 * 65_536
      let saving = true
      const observations: { finalSize?: number; temporary: string[] }[] = []
      const watcher = (async () => {
        while (saving) {
          const names = (await backend.list(dir)).map((e) => e.name)
          const finalSize = names.includes('slow.bin') ? (await backend.stat(`${dir}/slow.bin`)).size : undefined
          observations.push({ finalSize, temporary: names.filter((n) => n !== 'slow.bin') })
          await sleep(5)
        }
      })()
      await backend.save(`${dir}/slow.bin`, slowly(chunked(patterned(total, 2), 65_536), 10))
      saving = false
      await watcher
      // The watcher saw the write in progress (a dot-named temporary file), and never a short final file.
      expect(observations.some((o) => o.temporary.some((n) => /^\.\d+\.slow\.bin$/.test(n)))).toBe(true)
      for (const o of observations) {
        if (o.finalSize !== undefined) expect(o.finalSize).toBe(total)
      }
      expect((await backend.list(dir)).map((e) => e.name)).toEqual(['slow.bin'])
    })

    it('an interrupted stream stores nothing, removes its temporary file and keeps the old file', async () => {
      const dir = await freshDir()
      const old = patterned(100_000, 3)
      await backend.save(`${dir}/x.bin`, chunked(old, 4096))
      const failure = new Error('export failed mid-stream')
      await expect(
        backend.save(`${dir}/x.bin`, failing(patterned(5 * 1024 * 1024, 4), 4 * 1024 * 1024, failure)),
      ).rejects.toBe(failure)
      await expect(backend.save(`${dir}/y.bin`, failing(patterned(1024, 5), 512, failure))).rejects.toBe(failure)
      expect((await backend.list(dir)).map((e) => e.name)).toEqual(['x.bin'])
      expectSameBytes(await readAll(await backend.read(`${dir}/x.bin`)), old)
    })

    it('concurrent saves of one name both complete; the file is one of them, whole', async () => {
      const dir = await freshDir()
      const a = patterned(3 * 1024 * 1024, 21)
      const b = patterned(2 * 1024 * 1024, 22)
      // Started in the same millisecond, they pick the same temporary name: one must take the next.
      await Promise.all([
        backend.save(`${dir}/same.bin`, chunked(a, 65_536)),
        backend.save(`${dir}/same.bin`, chunked(b, 65_536)),
      ])
      const result = await readAll(await backend.read(`${dir}/same.bin`))
      expect(result.equals(a) || result.equals(b)).toBe(true)
      expect((await backend.list(dir)).map((e) => e.name)).toEqual(['same.bin'])
    })

    it('a validator reads the finished temporary file; a rejection stores nothing and keeps the old file', async () => {
      const dir = await freshDir()
      const old = patterned(10_000, 6)
      await backend.save(`${dir}/v.bin`, chunked(old, 1000))
      const data = patterned(2 * 1024 * 1024 + 3, 7)
      let seen: { size: number; tail: Buffer; path: string } | undefined
      const error = await backend
        .save(`${dir}/v.bin`, chunked(data, 100_000), {
          validator: async (file, info) => {
            seen = { size: await file.size(), tail: await file.read(info.size - 3, 10), path: info.path }
            await expect(file.write(0, Buffer.from('x'))).rejects.toThrow(/must not modify/)
            throw new Error('footer checksum mismatch at offset 512')
          },
        })
        .catch((e: unknown) => e)
      expect(seen).toEqual({ size: data.length, tail: data.subarray(data.length - 3), path: `${dir}/v.bin` })
      expect(error).toBeInstanceOf(RemoteError)
      expect(error).toMatchObject({ code: 'EINVALID' })
      expect((error as Error).message).toContain(`"${dir}/v.bin"`)
      expect((error as Error).message).toContain('footer checksum mismatch at offset 512')
      expect((await backend.list(dir)).map((e) => e.name)).toEqual(['v.bin'])
      expectSameBytes(await readAll(await backend.read(`${dir}/v.bin`)), old)

      // An accepting validator lets the file through.
      await backend.save(`${dir}/v.bin`, chunked(data, 100_000), { validator: async () => {} })
      expectSameBytes(await readAll(await backend.read(`${dir}/v.bin`)), data)
    })

    it('opens files for random access: writes at offsets, overwrites in the middle, truncates', async () => {
      const dir = await freshDir()
      const file = await backend.open(`${dir}/disk.vhd`, 'create')
      await file.write(0, Buffer.alloc(3 * 512, 0xaa))
      await file.write(2 * 1024 * 1024, Buffer.from('footer'))
      expect(await file.size()).toBe(2 * 1024 * 1024 + 6)
      // A hole reads back as zeros; a read past the end returns what exists.
      expect(await file.read(4096, 8)).toEqual(Buffer.alloc(8))
      expect(await file.read(2 * 1024 * 1024 + 2, 100)).toEqual(Buffer.from('oter'))
      await file.sync()
      await file.close()

      // What a merge does: reopen, overwrite a block in the middle, read it back.
      const update = await backend.open(`${dir}/disk.vhd`, 'update')
      await update.write(512, Buffer.alloc(512, 0x55))
      expect(await update.read(0, 3 * 512)).toEqual(
        Buffer.concat([Buffer.alloc(512, 0xaa), Buffer.alloc(512, 0x55), Buffer.alloc(512, 0xaa)]),
      )
      await update.truncate(1024)
      expect(await update.size()).toBe(1024)
      await update.close()
      expect((await backend.stat(`${dir}/disk.vhd`)).size).toBe(1024)

      const readOnly = await backend.open(`${dir}/disk.vhd`, 'read')
      expect(await readOnly.read(510, 4)).toEqual(Buffer.from([0xaa, 0xaa, 0x55, 0x55]))
      await expect(readOnly.write(0, Buffer.from('x'))).rejects.toBeInstanceOf(RemoteError)
      await readOnly.close()
    })

    it('renames over an existing file and renames directories', async () => {
      const dir = await freshDir()
      await backend.save(`${dir}/new.json`, chunked(Buffer.from('{"new":true}'), 4))
      await backend.save(`${dir}/cur.json`, chunked(Buffer.from('{"old":true}'), 4))
      await backend.rename(`${dir}/new.json`, `${dir}/cur.json`)
      expect(await readAll(await backend.read(`${dir}/cur.json`))).toEqual(Buffer.from('{"new":true}'))
      expect((await backend.list(dir)).map((e) => e.name)).toEqual(['cur.json'])
      await backend.mkdir(`${dir}/d1/sub`, { recursive: true })
      await backend.rename(`${dir}/d1`, `${dir}/d2`)
      expect((await backend.stat(`${dir}/d2/sub`)).kind).toBe('directory')
    })

    it('lists, stats, creates and removes files and directories', async () => {
      const dir = await freshDir()
      await backend.mkdir(`${dir}/a/b/c`, { recursive: true })
      await backend.mkdir(`${dir}/a/b/c`, { recursive: true })
      await expect(backend.mkdir(`${dir}/a`)).rejects.toMatchObject({ code: 'EEXIST' })
      await backend.save(`${dir}/a/f.txt`, chunked(Buffer.from('hello'), 2))
      expect(sortByName(await backend.list(`${dir}/a`))).toEqual([
        { name: 'b', kind: 'directory' },
        { name: 'f.txt', kind: 'file' },
      ])
      const stats = await backend.stat(`${dir}/a/f.txt`)
      expect(stats.kind).toBe('file')
      expect(stats.size).toBe(5)
      expect(Math.abs(stats.mtime.getTime() - Date.now())).toBeLessThan(60_000)
      await expect(backend.removeDirectory(`${dir}/a`)).rejects.toMatchObject({ code: 'ENOTEMPTY' })
      await backend.remove(`${dir}/a/f.txt`)
      await backend.removeDirectory(`${dir}/a/b/c`)
      await backend.removeDirectory(`${dir}/a/b`)
      await backend.removeDirectory(`${dir}/a`)
      expect(await backend.list(dir)).toEqual([])
    })

    it('sets modification times (lock keep-alive)', async () => {
      const dir = await freshDir()
      await backend.mkdir(`${dir}/held.lock`)
      const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 42_000)
      await backend.setModifiedTime(`${dir}/held.lock`, mtime)
      expect((await backend.stat(`${dir}/held.lock`)).mtime.getTime()).toBe(mtime.getTime())
    })

    it('reports free space consistent with the file system holding the files', async () => {
      const free = await backend.freeSpace()
      expect(free).toBeDefined()
      const local = await statfs(subject.localDir)
      expect(free!.total).toBe(local.blocks * local.bsize)
      // Other processes write meanwhile: equal within 256 MiB.
      expect(Math.abs(free!.available - local.bavail * local.bsize)).toBeLessThan(256 * 1024 * 1024)
      expect(free!.available).toBeLessThanOrEqual(free!.total)
    })

    it('reports missing files with ENOENT, naming the path and the remote', async () => {
      const dir = await freshDir()
      for (const attempt of [
        () => backend.stat(`${dir}/missing.json`),
        () => backend.read(`${dir}/missing.json`),
        () => backend.open(`${dir}/missing.json`, 'read'),
        () => backend.remove(`${dir}/missing.json`),
        () => backend.list(`${dir}/missing`),
      ]) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(error).toBeInstanceOf(RemoteError)
        expect(error).toMatchObject({ code: 'ENOENT' })
        expect((error as Error).message).toContain(`${dir}/missing`)
        expect((error as Error).message).toContain(backend.name)
      }
    })

    it('refuses paths that leave the remote', async () => {
      await expect(backend.stat('../etc/passwd')).rejects.toThrow(/must not contain "\.\."/)
      await expect(backend.save('a/../../x', chunked(Buffer.from('x'), 1))).rejects.toThrow(/must not contain "\.\."/)
    })

    it('streams a 512 MiB file in and out with bounded memory', async () => {
      const dir = await freshDir()
      const size = 512 * 1024 * 1024
      const memory = memoryWatch()
      const written = createHash('sha256')
      await backend.save(
        `${dir}/big.xva`,
        generated(size, 1024 * 1024, (chunk) => written.update(chunk)),
        {
          expectedSize: size,
        },
      )
      const read = createHash('sha256')
      let readBytes = 0
      for await (const chunk of await backend.read(`${dir}/big.xva`)) {
        read.update(chunk as Buffer)
        readBytes += (chunk as Buffer).length
      }
      const growth = memory.stop()
      expect(readBytes).toBe(size)
      expect(read.digest('hex')).toBe(written.digest('hex'))
      // Buffering the file would grow the process by 512 MiB; chunks in flight are a few MiB.
      expect(growth.rss).toBeLessThan(160 * 1024 * 1024)
      await backend.remove(`${dir}/big.xva`)
    })
  })
}

/** Deterministic bytes that differ at every position (a shifted file compares unequal). */
export function patterned(length: number, seed: number): Buffer {
  const buffer = Buffer.allocUnsafe(length)
  let x = seed * 2654435761
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    buffer[i] = x >>> 24
  }
  return buffer
}

export async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size)
}

async function* slowly(source: AsyncIterable<Buffer>, delayMs: number): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    await sleep(delayMs)
    yield chunk
  }
}

/** Yields `data` until `failAt` bytes, then throws `error` (an export that dies mid-stream). */
export async function* failing(data: Buffer, failAt: number, error: Error): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < failAt; offset += 65_536) yield data.subarray(offset, Math.min(failAt, offset + 65_536))
  throw error
}

/** `size` bytes in fresh chunks, never held together; each chunk differs (its index is stamped in). */
export async function* generated(
  size: number,
  chunkSize: number,
  onChunk?: (chunk: Buffer) => void,
): AsyncGenerator<Buffer> {
  const base = patterned(chunkSize, 99)
  for (let offset = 0, index = 0; offset < size; offset += chunkSize, index++) {
    const chunk = Buffer.from(base.subarray(0, Math.min(chunkSize, size - offset)))
    chunk.writeUInt32LE(index, 0)
    onChunk?.(chunk)
    yield chunk
  }
}

/** Byte comparison without vitest's element-by-element diff (slow on megabytes). */
export function expectSameBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length)
  if (actual.equals(expected)) return
  const at = actual.findIndex((byte, i) => byte !== expected[i])
  expect.fail(`bytes differ, first at offset ${at}`)
}

export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function sortByName<T extends { name: string }>(entries: T[]): T[] {
  return [...entries].sort((a, b) => a.name.localeCompare(b.name))
}

/** Samples the process's memory until stopped; returns the peak growth over the start. */
function memoryWatch(): { stop(): { rss: number } } {
  const start = process.memoryUsage().rss
  let peak = start
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 20)
  return {
    stop() {
      clearInterval(timer)
      peak = Math.max(peak, process.memoryUsage().rss)
      return { rss: peak - start }
    },
  }
}
