import { constants } from 'node:os'
import { errnoName } from '../errors'
import {
  type ContextFunctions,
  callAsync,
  callQueue,
  decodeString,
  decodeUint32,
  fillCString,
  type LibSmbClient,
  libsmbclient,
  type Pointer,
  registerCallback,
  smbEntryType,
  structLayout,
  unregisterCallback,
} from './libsmbclient'

export interface SmbServer {
  host: string
  port?: number
  share: string
}

/** Who logs on. The password lives only in the auth callback's closure. */
export interface SmbCredentials {
  username: string
  domain?: string
  password: string
}

/** A failed libsmbclient call: `code` is the errno name (ENOENT, EACCES, ECONNREFUSED…). */
export class SmbCallError extends Error {
  readonly code: string

  constructor(
    readonly errno: number,
    operation: string,
  ) {
    const code = errnoName(errno)
    super(`${operation} failed: ${code}`)
    this.code = code
  }
}

export interface SmbStat {
  isDirectory: boolean
  isFile: boolean
  size: number
  mtime: Date
}

export interface SmbDirectoryEntry {
  name: string
  kind: 'file' | 'directory' | 'other'
}

const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const SEEK_SET = 0

/**
 * One libsmbclient context: its own connection to the server and its own credentials. Every call
 * goes through the process-wide call queue (libsmbclient.ts explains why). URLs never carry the
 * password; libsmbclient asks for it through the auth callback.
 */
export class SmbConnection {
  private closed = false

  private constructor(
    private readonly server: SmbServer,
    private readonly lib: LibSmbClient,
    private readonly context: Pointer,
    private readonly callback: Pointer,
    private readonly fn: ContextFunctions,
  ) {}

  /**
   * Creates and initialises a context. Even these synchronous setup calls run as a queued job: the
   * library's globals must not change while another context's call runs on a worker thread.
   */
  static open(
    server: SmbServer,
    credentials: SmbCredentials,
    options: { timeoutMs?: number } = {},
  ): Promise<SmbConnection> {
    const { username, domain, password } = credentials
    // fstring buffers of 256 bytes: checked here, because the callback cannot report errors.
    fillCheck(username, 'user name')
    fillCheck(password, 'password')
    if (domain !== undefined) fillCheck(domain, 'domain')
    return callQueue.run(async () => {
      const lib = libsmbclient()
      const context = lib.newContext()
      // A wrong password must fail as a logon failure, not silently fall back to an anonymous session.
      lib.setOption(context, 'NoAutoAnonymousLogin', true)
      lib.setOption(context, 'DebugToStderr', true)
      lib.setDebug(context, 0)
      lib.setTimeout(context, options.timeoutMs ?? 30_000)
      const callback = registerCallback(
        (
          _ctx: Pointer,
          _server: string,
          _share: string,
          wg: Pointer,
          wgLen: number,
          un: Pointer,
          unLen: number,
          pw: Pointer,
          pwLen: number,
        ) => {
          if (domain !== undefined) fillCString(wg, wgLen, domain, 'domain')
          fillCString(un, unLen, username, 'user name')
          fillCString(pw, pwLen, password, 'password')
        },
        lib.authCallbackType,
      )
      lib.setAuthCallback(context, callback)
      if (!lib.initContext(context)) {
        await callAsync<number>(lib.freeContext, context, 0)
        unregisterCallback(callback)
        throw new Error('libsmbclient could not initialise a client context (smbc_init_context failed)')
      }
      return new SmbConnection(server, lib, context, callback, lib.functions(context))
    })
  }

  /** smb://host[:port]/share/<path>, each segment percent-encoded (libsmbclient decodes them). */
  url(path: string): string {
    const port = this.server.port === undefined ? '' : `:${this.server.port}`
    const segments = path.split('/').filter((s) => s !== '')
    const encoded = [this.server.share, ...segments].map((s) => encodeURIComponent(s)).join('/')
    return `smb://${this.server.host}${port}/${encoded}${segments.length === 0 ? '/' : ''}`
  }

  open(path: string, flags: number, mode = 0o644): Promise<Pointer> {
    return this.queued(async () => {
      const { value, errno } = await callAsync<Pointer | null>(this.fn.open, this.context, this.url(path), flags, mode)
      if (!value) throw new SmbCallError(errno, 'open')
      return value
    })
  }

  /** Reads up to `length` bytes at `position`; fewer only at the end of the file. */
  read(file: Pointer, position: number, length: number): Promise<Buffer> {
    return this.queued(async () => {
      await this.seek(file, position)
      const buffer = Buffer.allocUnsafe(length)
      let filled = 0
      while (filled < length) {
        const target = filled === 0 ? buffer : buffer.subarray(filled)
        const { value, errno } = await callAsync<number>(this.fn.read, this.context, file, target, length - filled)
        if (value < 0) throw new SmbCallError(errno, 'read')
        if (value === 0) break
        filled += value
      }
      return filled === length ? buffer : buffer.subarray(0, filled)
    })
  }

  write(file: Pointer, position: number, data: Uint8Array): Promise<void> {
    return this.queued(async () => {
      await this.seek(file, position)
      let written = 0
      while (written < data.length) {
        const chunk = written === 0 ? data : data.subarray(written)
        const { value, errno } = await callAsync<number>(this.fn.write, this.context, file, chunk, chunk.length)
        if (value <= 0) throw new SmbCallError(value < 0 ? errno : constants.errno.EIO, 'write')
        written += value
      }
    })
  }

  truncate(file: Pointer, size: number): Promise<void> {
    return this.queued(async () => {
      const { value, errno } = await callAsync<number>(this.fn.ftruncate, this.context, file, size)
      if (value < 0) throw new SmbCallError(errno, 'ftruncate')
    })
  }

  fileStat(file: Pointer): Promise<SmbStat> {
    return this.queued(async () => {
      const buffer = Buffer.alloc(statLayout().size)
      const { value, errno } = await callAsync<number>(this.fn.fstat, this.context, file, buffer)
      if (value < 0) throw new SmbCallError(errno, 'fstat')
      return decodeStat(buffer)
    })
  }

  closeFile(file: Pointer): Promise<void> {
    return this.queued(async () => {
      const { value, errno } = await callAsync<number>(this.fn.close, this.context, file)
      if (value < 0) throw new SmbCallError(errno, 'close')
    })
  }

  stat(path: string): Promise<SmbStat> {
    return this.queued(async () => {
      const buffer = Buffer.alloc(statLayout().size)
      const { value, errno } = await callAsync<number>(this.fn.stat, this.context, this.url(path), buffer)
      if (value < 0) throw new SmbCallError(errno, 'stat')
      return decodeStat(buffer)
    })
  }

  unlink(path: string): Promise<void> {
    return this.simple(this.fn.unlink, 'unlink', this.url(path))
  }

  rmdir(path: string): Promise<void> {
    return this.simple(this.fn.rmdir, 'rmdir', this.url(path))
  }

  mkdir(path: string, mode = 0o755): Promise<void> {
    return this.simple(this.fn.mkdir, 'mkdir', this.url(path), mode)
  }

  rename(from: string, to: string): Promise<void> {
    return this.queued(async () => {
      const { value, errno } = await callAsync<number>(
        this.fn.rename,
        this.context,
        this.url(from),
        this.context,
        this.url(to),
      )
      if (value < 0) throw new SmbCallError(errno, 'rename')
    })
  }

  setModifiedTime(path: string, mtime: Date): Promise<void> {
    const { size } = structLayout.timeval
    const times = Buffer.alloc(2 * size)
    const ms = mtime.getTime()
    for (const offset of [0, size]) {
      times.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), offset)
      times.writeBigInt64LE(BigInt((ms % 1000) * 1000), offset + 8)
    }
    return this.simple(this.fn.utimes, 'utimes', this.url(path), times)
  }

  /**
   * Free space of the share. For SMB2+ libsmbclient reports bytes per sector in f_bsize and sectors
   * per allocation unit in f_frsize (not POSIX's fragment size), so a unit is their product.
   */
  freeSpace(path: string): Promise<{ available: number; total: number }> {
    return this.queued(async () => {
      const layout = structLayout.statvfs
      const buffer = Buffer.alloc(layout.size)
      const { value, errno } = await callAsync<number>(this.fn.statvfs, this.context, this.url(path), buffer)
      if (value < 0) throw new SmbCallError(errno, 'statvfs')
      const bsize = Number(buffer.readBigUInt64LE(layout.bsize))
      const frsize = Number(buffer.readBigUInt64LE(layout.frsize))
      const unit = bsize * (frsize === 0 ? 1 : frsize)
      return {
        available: Number(buffer.readBigUInt64LE(layout.bavail)) * unit,
        total: Number(buffer.readBigUInt64LE(layout.blocks)) * unit,
      }
    })
  }

  list(path: string): Promise<SmbDirectoryEntry[]> {
    return this.listUrl(this.url(path))
  }

  /** Lists the server's shares: succeeds once logged on, whatever the share permissions. */
  listShares(): Promise<SmbDirectoryEntry[]> {
    const port = this.server.port === undefined ? '' : `:${this.server.port}`
    return this.listUrl(`smb://${this.server.host}${port}/`)
  }

  private listUrl(url: string): Promise<SmbDirectoryEntry[]> {
    return this.queued(async () => {
      const opened = await callAsync<Pointer | null>(this.fn.opendir, this.context, url)
      if (!opened.value) throw new SmbCallError(opened.errno, 'opendir')
      const dir = opened.value
      const entries: SmbDirectoryEntry[] = []
      try {
        for (;;) {
          const { value: entry } = await callAsync<Pointer | null>(this.fn.readdir, this.context, dir)
          if (!entry) break
          // Decoded before the next call into the library, which may reuse the entry's memory.
          const layout = structLayout.dirent
          const name = decodeString(entry, layout.name)
          if (name === '.' || name === '..') continue
          const type = decodeUint32(entry, layout.type)
          entries.push({
            name,
            kind: type === smbEntryType.file ? 'file' : type === smbEntryType.dir ? 'directory' : 'other',
          })
        }
      } finally {
        await callAsync<number>(this.fn.closedir, this.context, dir)
      }
      return entries
    })
  }

  /** Frees the context (closing its connections). Open files of this connection become invalid. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await callQueue.run(() => callAsync<number>(this.lib.freeContext, this.context, 1))
    unregisterCallback(this.callback)
  }

  private async seek(file: Pointer, position: number): Promise<void> {
    const { value, errno } = await callAsync<number | bigint>(this.fn.lseek, this.context, file, position, SEEK_SET)
    if (Number(value) < 0) throw new SmbCallError(errno, 'lseek')
  }

  private simple(fn: ContextFunctions[keyof ContextFunctions], operation: string, ...args: unknown[]): Promise<void> {
    return this.queued(async () => {
      const { value, errno } = await callAsync<number>(fn, this.context, ...args)
      if (value < 0) throw new SmbCallError(errno, operation)
    })
  }

  private queued<T>(job: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the SMB connection is closed'))
    return callQueue.run(job)
  }
}

function fillCheck(value: string, what: string): void {
  if (Buffer.byteLength(value, 'utf8') > 255)
    throw new Error(`SMB ${what} is longer than the 255 bytes libsmbclient accepts`)
}

function statLayout() {
  const layout = structLayout.stat
  if (layout === undefined) throw new Error(`SMB remotes support x64 and arm64 Linux; this is ${process.arch}`)
  return layout
}

function decodeStat(buffer: Buffer): SmbStat {
  const layout = statLayout()
  const mode = buffer.readUInt32LE(layout.mode) & S_IFMT
  const seconds = Number(buffer.readBigInt64LE(layout.mtimeSec))
  const nanoseconds = Number(buffer.readBigInt64LE(layout.mtimeNsec))
  return {
    isDirectory: mode === S_IFDIR,
    isFile: mode === S_IFREG,
    size: Number(buffer.readBigInt64LE(layout.size64)),
    mtime: new Date(seconds * 1000 + Math.floor(nanoseconds / 1e6)),
  }
}
