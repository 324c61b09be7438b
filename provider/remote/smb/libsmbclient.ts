import * as koffi from 'koffi'

/**
 * Bindings to Samba's own client library, libsmbclient (Debian package `libsmbclient`), through the
 * koffi FFI: real SMB2/3 with NTLMv2 and Kerberos, positioned reads and writes, and the server's
 * free space. Every npm SMB client tried speaks NTLMv1 only or mishandles asynchronous replies
 * (../shared/design/test-infrastructure.md).
 *
 * Threads: the calls block, so they run on koffi's worker threads (`fn.async`). Debian builds
 * libsmbclient without `smbc_thread_posix`, so its talloc stack frames and parameter globals are
 * process-wide and not thread-safe: **every call into the library, whatever the context, goes
 * through one process-wide queue** (`callQueue`): one call in flight at a time. Contexts (one per
 * SMB backend) still keep their own connections and credentials.
 */

/** A pointer returned by the library (koffi represents pointers as BigInt). */
export type Pointer = bigint

export interface SmbCallResult<T> {
  value: T
  /** errno of the worker thread right after the call; meaningful only when the call failed. */
  errno: number
}

type AsyncFunction = ReturnType<koffi.LibraryHandle['func']>

export interface LibSmbClient {
  version: string
  newContext(): Pointer
  initContext(context: Pointer): Pointer
  /** smbc_free_context(ctx, shutdown): may talk to the server, so it is called asynchronously. */
  freeContext: AsyncFunction
  setAuthCallback(context: Pointer, callback: Pointer): void
  setOption(context: Pointer, option: BooleanOption, value: boolean): void
  setDebug(context: Pointer, level: number): void
  setTimeout(context: Pointer, milliseconds: number): void
  authCallbackType: koffi.TypeObject
  /** The context's implementation of each operation (the context-based API of libsmbclient.h). */
  functions(context: Pointer): ContextFunctions
}

export type BooleanOption = 'NoAutoAnonymousLogin' | 'DebugToStderr' | 'FallbackAfterKerberos' | 'UseKerberos'

export interface ContextFunctions {
  open: AsyncFunction
  read: AsyncFunction
  write: AsyncFunction
  lseek: AsyncFunction
  ftruncate: AsyncFunction
  fstat: AsyncFunction
  close: AsyncFunction
  unlink: AsyncFunction
  rename: AsyncFunction
  mkdir: AsyncFunction
  rmdir: AsyncFunction
  stat: AsyncFunction
  statvfs: AsyncFunction
  opendir: AsyncFunction
  readdir: AsyncFunction
  closedir: AsyncFunction
  utimes: AsyncFunction
}

let loaded: LibSmbClient | undefined

/** Loads libsmbclient once; a missing library is an error that says what to install. */
export function libsmbclient(): LibSmbClient {
  loaded ??= load()
  return loaded
}

function load(): LibSmbClient {
  try {
    // Samba's connection and NTLM code runs on koffi's async stacks; give it room. This fails
    // harmlessly if another module loaded a library through koffi first (the default then applies).
    koffi.config({ ...koffi.config(), async_stack_size: 1024 * 1024 })
  } catch {}
  let lib: koffi.LibraryHandle
  try {
    lib = koffi.load('libsmbclient.so.0')
  } catch (error) {
    throw new Error(
      `SMB remotes need Samba's client library libsmbclient.so.0, which could not be loaded (${(error as Error).message}): ` +
        'install it (Debian/Ubuntu: apt-get install libsmbclient; RHEL: dnf install libsmbclient)',
    )
  }

  const authCallbackType = koffi.proto(
    'void xcp_smbc_auth_fn(void *ctx, const char *server, const char *share, void *workgroup, int workgroupLength, void *user, int userLength, void *password, int passwordLength)',
  )
  const prototypes = {
    open: koffi.proto('void *xcp_smbc_open(void *ctx, const char *url, int flags, uint32_t mode)'),
    read: koffi.proto('intptr_t xcp_smbc_read(void *ctx, void *file, void *buffer, size_t count)'),
    write: koffi.proto('intptr_t xcp_smbc_write(void *ctx, void *file, const void *buffer, size_t count)'),
    lseek: koffi.proto('int64_t xcp_smbc_lseek(void *ctx, void *file, int64_t offset, int whence)'),
    ftruncate: koffi.proto('int xcp_smbc_ftruncate(void *ctx, void *file, int64_t size)'),
    fstat: koffi.proto('int xcp_smbc_fstat(void *ctx, void *file, void *stat)'),
    close: koffi.proto('int xcp_smbc_close(void *ctx, void *file)'),
    unlink: koffi.proto('int xcp_smbc_unlink(void *ctx, const char *url)'),
    rename: koffi.proto('int xcp_smbc_rename(void *ctx, const char *from, void *newCtx, const char *to)'),
    mkdir: koffi.proto('int xcp_smbc_mkdir(void *ctx, const char *url, uint32_t mode)'),
    rmdir: koffi.proto('int xcp_smbc_rmdir(void *ctx, const char *url)'),
    stat: koffi.proto('int xcp_smbc_stat(void *ctx, const char *url, void *stat)'),
    statvfs: koffi.proto('int xcp_smbc_statvfs(void *ctx, const char *url, void *statvfs)'),
    opendir: koffi.proto('void *xcp_smbc_opendir(void *ctx, const char *url)'),
    readdir: koffi.proto('void *xcp_smbc_readdir(void *ctx, void *dir)'),
    closedir: koffi.proto('int xcp_smbc_closedir(void *ctx, void *dir)'),
    utimes: koffi.proto('int xcp_smbc_utimes(void *ctx, const char *url, void *times)'),
  }
  const getters: Record<keyof ContextFunctions, string> = {
    open: 'Open',
    read: 'Read',
    write: 'Write',
    lseek: 'Lseek',
    ftruncate: 'Ftruncate',
    fstat: 'Fstat',
    close: 'Close',
    unlink: 'Unlink',
    rename: 'Rename',
    mkdir: 'Mkdir',
    rmdir: 'Rmdir',
    stat: 'Stat',
    statvfs: 'StatVFS',
    opendir: 'Opendir',
    readdir: 'Readdir',
    closedir: 'Closedir',
    utimes: 'Utimes',
  }
  const getterFunctions = Object.fromEntries(
    Object.entries(getters).map(([key, name]) => [key, lib.func(`void *smbc_getFunction${name}(void *ctx)`)]),
  ) as Record<keyof ContextFunctions, AsyncFunction>

  const setBoolean = {
    NoAutoAnonymousLogin: lib.func('void smbc_setOptionNoAutoAnonymousLogin(void *ctx, int value)'),
    DebugToStderr: lib.func('void smbc_setOptionDebugToStderr(void *ctx, int value)'),
    FallbackAfterKerberos: lib.func('void smbc_setOptionFallbackAfterKerberos(void *ctx, int value)'),
    UseKerberos: lib.func('void smbc_setOptionUseKerberos(void *ctx, int value)'),
  }
  const newContext = lib.func('void *smbc_new_context(void)')
  const initContext = lib.func('void *smbc_init_context(void *ctx)')
  const freeContext = lib.func('int smbc_free_context(void *ctx, int shutdown)')
  const setAuth = lib.func('void smbc_setFunctionAuthDataWithContext(void *ctx, void *fn)')
  const setDebug = lib.func('void smbc_setDebug(void *ctx, int level)')
  const setTimeout = lib.func('void smbc_setTimeout(void *ctx, int milliseconds)')
  const version = lib.func('const char *smbc_version(void)')

  return {
    version: version() as string,
    newContext: () => newContext() as Pointer,
    initContext: (context) => initContext(context) as Pointer,
    freeContext,
    setAuthCallback: (context, callback) => setAuth(context, callback),
    setOption: (context, option, value) => setBoolean[option](context, value ? 1 : 0),
    setDebug: (context, level) => setDebug(context, level),
    setTimeout: (context, milliseconds) => setTimeout(context, milliseconds),
    authCallbackType,
    functions: (context) =>
      Object.fromEntries(
        Object.entries(getterFunctions).map(([key, getter]) => [
          key,
          koffi.decode(getter(context), prototypes[key as keyof ContextFunctions]),
        ]),
      ) as unknown as ContextFunctions,
  }
}

/** One call at a time into libsmbclient, process-wide (see the comment at the top). */
class CallQueue {
  private tail: Promise<unknown> = Promise.resolve()

  /** Runs `job` when every job queued before it has finished; a job may make several calls. */
  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job, job)
    this.tail = result.catch(() => {})
    return result
  }
}

export const callQueue = new CallQueue()

/**
 * Calls a blocking libsmbclient function on a worker thread. Must run inside a `callQueue` job.
 * errno is read in koffi's completion callback, the only moment it is the worker's.
 */
export function callAsync<T>(fn: AsyncFunction, ...args: unknown[]): Promise<SmbCallResult<T>> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (error: unknown, value: T) => {
      if (error) reject(error)
      else resolve({ value, errno: koffi.errno() })
    })
  })
}

/** Writes a NUL-terminated string into a buffer libsmbclient handed to the auth callback. */
export function fillCString(target: Pointer, capacity: number, value: string, what: string): void {
  const bytes = Buffer.from(`${value}\0`, 'utf8')
  if (bytes.length > capacity)
    throw new Error(`SMB ${what} is longer than the ${capacity - 1} bytes libsmbclient accepts`)
  koffi.encode(target, koffi.array('uint8', bytes.length), Array.from(bytes))
}

/** Decodes a NUL-terminated UTF-8 string at `pointer + offset`. */
export function decodeString(pointer: Pointer, offset: number, length?: number): string {
  return length === undefined
    ? koffi.decode.string(pointer + BigInt(offset))
    : koffi.decode.string(pointer + BigInt(offset), length)
}

export function decodeUint32(pointer: Pointer, offset: number): number {
  return koffi.decode.uint32(pointer + BigInt(offset))
}

export function registerCallback(callback: (...args: never[]) => void, type: koffi.TypeObject): Pointer {
  return koffi.register(callback, koffi.pointer(type))
}

export function unregisterCallback(pointer: Pointer): void {
  koffi.unregister(pointer)
}

/**
 * Layouts of the C structures the library fills, for the ABIs Node runs on (glibc, LP64).
 * `struct stat` differs between x86-64 and the generic layout of arm64; `struct statvfs` does not.
 */
export const structLayout = (() => {
  const stat =
    process.arch === 'x64'
      ? { size: 144, mode: 24, size64: 48, mtimeSec: 88, mtimeNsec: 96 }
      : process.arch === 'arm64'
        ? { size: 128, mode: 16, size64: 48, mtimeSec: 88, mtimeNsec: 96 }
        : undefined
  return {
    stat,
    statvfs: { size: 112, bsize: 0, frsize: 8, blocks: 16, bfree: 24, bavail: 32 },
    // struct smbc_dirent { unsigned smbc_type, dirlen, commentlen; char *comment; unsigned namelen; char name[]; }
    dirent: { type: 0, namelen: 24, name: 28 },
    timeval: { size: 16 },
  }
})()

export const smbEntryType = { dir: 7, file: 8, link: 9 } as const
