import { hostname } from 'node:os'
import { z } from 'zod'
import type { RemoteBackend, RemoteStat } from './backend'
import { isRemoteError, RemoteError } from './errors'
import { joinRemotePath, normalizeRemotePath, remoteBasename, remoteDirname } from './path'
import { readSmallFile, saveSmallFile } from './small-files'

/**
 * Locks compatible with Xen Orchestra's (`proper-lockfile` as XO's local/NFS/SMB handlers use it):
 * the lock on `<path>` is a directory `<path>.lock` created with mkdir, kept alive by refreshing its
 * mtime, abandoned ("stale") when the mtime is older than 10 s, taken again if compromised.
 * docs/remote-format.md §6.
 *
 * Who holds it is written next to it, in `.<name>.lock.owner.json` (§6.2): not inside, because
 * proper-lockfile removes a stale lock with rmdir, which a file inside would make fail forever.
 */

export const DEFAULT_STALE_MS = 10_000

export const lockOwnerSchema = z.object({
  tool: z.literal('xcp-backup'),
  host: z.string(),
  pid: z.number().int(),
  runId: z.string().optional(),
  /** ISO 8601 time the lock was taken. */
  since: z.string(),
})
export type LockOwner = z.infer<typeof lockOwnerSchema>

export interface LockOptions {
  /** A lock not refreshed for this long is abandoned (proper-lockfile's `stale`; XO uses the default 10 s). */
  staleMs?: number
  /** How often the holder refreshes it; default half of staleMs, as proper-lockfile. */
  updateMs?: number
  /** Recorded in the owner file so that a blocked run can say which run holds the lock. */
  runId?: string
  /** Called when the lock was lost (removed or taken by someone else) and could not be taken back. */
  onCompromised?: (error: RemoteError) => void
  /** Notices about the lock's life (compromised and re-acquired, owner record not written). */
  log?: (message: string) => void
}

export interface Lock {
  /** The lock directory, `<path>.lock`. */
  readonly lockPath: string
  /** True once the lock was lost for good; writers must stop. */
  readonly lost: boolean
  /** Throws ECOMPROMISED if the lock was lost. Call before each commit point (metadata write). */
  assertHeld(): void
  release(): Promise<void>
}

/** What a locker found at `<path>.lock`. */
export interface LockState {
  lockPath: string
  /** When the lock was last refreshed (its directory's mtime). */
  refreshedAt: Date
  /** Older than staleMs: its holder is gone, the next locker will take it over. */
  stale: boolean
  /** The holder, when it identified itself and its record is fresh. */
  owner: LockOwner | undefined
  /** An owner record that is too old to describe the current holder (an earlier holder's). */
  outdatedOwner: LockOwner | undefined
}

export function lockPathOf(path: string): string {
  return `${normalizeRemotePath(path)}.lock`
}

export function ownerPathOf(path: string): string {
  const normalized = normalizeRemotePath(path)
  return joinRemotePath(remoteDirname(normalized), `.${remoteBasename(normalized)}.lock.owner.json`)
}

/** Takes the lock on `path` (a VM directory: `xo-vm-backups/<vmUuid>`), or fails with ELOCKED. */
export async function acquireLock(backend: RemoteBackend, path: string, options: LockOptions = {}): Promise<Lock> {
  const held = new HeldLock(backend, normalizeRemotePath(path), options)
  await held.acquire()
  return held
}

/** Reads the state of the lock on `path` without touching it; undefined when nobody holds it. */
export async function inspectLock(
  backend: RemoteBackend,
  path: string,
  staleMs = DEFAULT_STALE_MS,
): Promise<LockState | undefined> {
  const lockPath = lockPathOf(path)
  let stats: RemoteStat
  try {
    stats = await backend.stat(lockPath)
  } catch (error) {
    if (isRemoteError(error, 'ENOENT')) return undefined
    throw error
  }
  const now = Date.now()
  const record = await readOwner(backend, ownerPathOf(path))
  const recordFresh = record !== undefined && now - record.mtime.getTime() < staleMs
  return {
    lockPath,
    refreshedAt: stats.mtime,
    stale: stats.mtime.getTime() < now - staleMs,
    owner: recordFresh ? record.owner : undefined,
    outdatedOwner: record !== undefined && !recordFresh ? record.owner : undefined,
  }
}

class HeldLock implements Lock {
  readonly lockPath: string
  private readonly ownerPath: string
  private readonly staleMs: number
  private readonly updateMs: number
  private mtime = new Date(0)
  private precision: 'ms' | 's' = 'ms'
  private lastUpdate = 0
  private timer: NodeJS.Timeout | undefined
  private released = false
  private lostError: RemoteError | undefined

  constructor(
    private readonly backend: RemoteBackend,
    private readonly path: string,
    private readonly options: LockOptions,
  ) {
    this.lockPath = lockPathOf(path)
    this.ownerPath = ownerPathOf(path)
    this.staleMs = options.staleMs ?? DEFAULT_STALE_MS
    this.updateMs = options.updateMs ?? this.staleMs / 2
  }

  get lost(): boolean {
    return this.lostError !== undefined
  }

  assertHeld(): void {
    if (this.lostError !== undefined) throw this.lostError
    if (this.released) throw new Error(`the lock ${this.lockPath} was released`)
  }

  async acquire(): Promise<void> {
    await this.backend.mkdir(remoteDirname(this.lockPath), { recursive: true })
    if (!(await this.tryCreate())) {
      const state = await inspectLock(this.backend, this.path, this.staleMs)
      if (state === undefined) {
        // Released meanwhile: one more try, without a second staleness check (as proper-lockfile).
        if (!(await this.tryCreate())) throw await this.lockedError()
      } else if (state.stale) {
        await this.backend.removeDirectory(this.lockPath).catch((error: unknown) => {
          if (!isRemoteError(error, 'ENOENT')) throw error
        })
        this.options.log?.(
          `took over the abandoned lock ${this.lockPath} (last refreshed ${state.refreshedAt.toISOString()}${describeHolder(state.outdatedOwner ?? state.owner, ' by ')})`,
        )
        if (!(await this.tryCreate())) throw await this.lockedError()
      } else {
        throw lockedError(this.backend.name, this.path, state, this.staleMs)
      }
    }
    await this.writeOwner()
    this.schedule()
  }

  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    clearTimeout(this.timer)
    // A lost lock belongs to someone else now: leave it alone.
    if (this.lostError !== undefined) return
    await this.removeLock()
  }

  private async removeLock(): Promise<void> {
    await this.backend.remove(this.ownerPath).catch(() => {})
    await this.backend.removeDirectory(this.lockPath).catch((error: unknown) => {
      if (!isRemoteError(error, 'ENOENT')) throw error
    })
  }

  /** mkdir of the lock directory, then proper-lockfile's mtime precision probe. */
  private async tryCreate(): Promise<boolean> {
    try {
      await this.backend.mkdir(this.lockPath)
    } catch (error) {
      if (isRemoteError(error, 'EEXIST')) return false
      throw error
    }
    const probe = new Date(Math.ceil(Date.now() / 1000) * 1000 + 5)
    await this.backend.setModifiedTime(this.lockPath, probe)
    const { mtime } = await this.backend.stat(this.lockPath)
    this.precision = mtime.getTime() % 1000 === 0 ? 's' : 'ms'
    this.mtime = mtime
    this.lastUpdate = Date.now()
    return true
  }

  private async lockedError(): Promise<RemoteError> {
    const state = await inspectLock(this.backend, this.path, this.staleMs).catch(() => undefined)
    return lockedError(this.backend.name, this.path, state, this.staleMs)
  }

  private async writeOwner(): Promise<void> {
    const owner: LockOwner = {
      tool: 'xcp-backup',
      host: hostname(),
      pid: process.pid,
      runId: this.options.runId,
      since: new Date().toISOString(),
    }
    try {
      await saveSmallFile(this.backend, this.ownerPath, JSON.stringify(owner))
    } catch (error) {
      // The lock itself is what protects the directory; the record only explains it.
      this.options.log?.(`could not write the lock owner record ${this.ownerPath}: ${(error as Error).message}`)
    }
  }

  private schedule(delay = this.updateMs): void {
    this.timer = setTimeout(() => {
      this.refresh().catch((error: unknown) => this.options.log?.(`lock refresh failed: ${(error as Error).message}`))
    }, delay)
    // A held lock must not keep the process alive; a process that exits leaves a lock that goes stale.
    this.timer.unref()
  }

  /** proper-lockfile's update: check the mtime is still ours, then set a new one. */
  private async refresh(): Promise<void> {
    if (this.released) return
    let stats: RemoteStat
    try {
      stats = await this.backend.stat(this.lockPath)
    } catch (error) {
      if (isRemoteError(error, 'ENOENT') || this.lastUpdate + this.staleMs < Date.now()) {
        return this.compromised(`the lock directory ${this.lockPath} could not be checked: ${(error as Error).message}`)
      }
      return this.schedule(Math.min(1000, this.updateMs))
    }
    if (this.released) return
    if (stats.mtime.getTime() !== this.mtime.getTime()) {
      return this.compromised(
        `the lock ${this.lockPath} was modified by someone else (not refreshed within ${this.staleMs} ms?)`,
      )
    }
    const mtime = this.precision === 's' ? new Date(Math.ceil(Date.now() / 1000) * 1000) : new Date()
    try {
      await this.backend.setModifiedTime(this.lockPath, mtime)
    } catch (error) {
      if (isRemoteError(error, 'ENOENT') || this.lastUpdate + this.staleMs < Date.now()) {
        return this.compromised(`the lock ${this.lockPath} could not be refreshed: ${(error as Error).message}`)
      }
      return this.schedule(Math.min(1000, this.updateMs))
    }
    if (this.released) return
    this.mtime = mtime
    this.lastUpdate = Date.now()
    await this.backend.setModifiedTime(this.ownerPath, mtime).catch(() => {})
    this.schedule()
  }

  /** XO re-acquires a compromised lock; so do we. If someone else holds it now, the lock is lost. */
  private async compromised(reason: string): Promise<void> {
    // Released while the refresh was under way: the missing lock is our own doing.
    if (this.released) return
    this.options.log?.(`lock compromised: ${reason}; taking it again`)
    try {
      await this.acquire()
      if (this.released) {
        clearTimeout(this.timer)
        await this.removeLock()
        return
      }
      this.options.log?.(`compromised lock ${this.lockPath} was re-acquired`)
    } catch (error) {
      if (this.released) return
      this.lostError = new RemoteError(
        'ECOMPROMISED',
        `the lock ${this.lockPath} on remote ${this.backend.name} was lost (${reason}) and could not be taken again: ` +
          `${(error as Error).message}. Writing to this VM's backups stopped to avoid clashing with the new holder.`,
        { remote: this.backend.name, path: this.lockPath, cause: error },
      )
      this.options.onCompromised?.(this.lostError)
    }
  }
}

/**
 * ELOCKED with XO's wording ("Lock file is already being held", as in XO's troubleshooting guide),
 * plus who holds it, since when, whether it looks stale and what to do.
 */
export function lockedError(remote: string, path: string, state: LockState | undefined, staleMs: number): RemoteError {
  const lockPath = lockPathOf(path)
  const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`
  let holder: string
  let freshness: string
  if (state === undefined) {
    holder = 'another process'
    freshness = 'it changed hands while we looked'
  } else {
    holder =
      state.owner !== undefined
        ? `xcp-backup${describeHolder(state.owner, ' ')}`
        : "a process that did not identify itself (Xen Orchestra's backup or merge worker, or another tool)" +
          (state.outdatedOwner === undefined
            ? ''
            : `; an older record${describeHolder(state.outdatedOwner, ' of ')} was ignored`)
    const age = Date.now() - state.refreshedAt.getTime()
    freshness = state.stale
      ? `it was last refreshed ${seconds(age)} ago, so it looks abandoned and will be recovered automatically`
      : `it was refreshed ${seconds(age)} ago, so its holder is alive`
  }
  return new RemoteError(
    'ELOCKED',
    `Lock file is already being held: ${path} on remote ${remote} is locked by ${holder}; ${freshness}. ` +
      'Wait for that backup or merge to finish and retry; if no process holds it any more, it is recovered automatically ' +
      `${seconds(staleMs)} after its last refresh (lock: ${lockPath}).`,
    { remote, path: lockPath },
  )
}

function describeHolder(owner: LockOwner | undefined, prefix: string): string {
  if (owner === undefined) return ''
  const run = owner.runId === undefined ? '' : `run ${owner.runId} `
  return `${prefix}${run}on host ${owner.host} (pid ${owner.pid}) since ${owner.since}`
}

async function readOwner(
  backend: RemoteBackend,
  ownerPath: string,
): Promise<{ owner: LockOwner; mtime: Date } | undefined> {
  try {
    const [stats, text] = await Promise.all([backend.stat(ownerPath), readSmallFile(backend, ownerPath, 64 * 1024)])
    const parsed = lockOwnerSchema.safeParse(JSON.parse(text.toString('utf8')))
    return parsed.success ? { owner: parsed.data, mtime: stats.mtime } : undefined
  } catch {
    // Missing, half-readable or foreign: the holder is simply unknown.
    return undefined
  }
}
