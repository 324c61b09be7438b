import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DatabaseSnapshot } from '../db/database'

const STATE_FILE = 'state.json'
const LOCK_FILE = 'simulator.lock'
const FORMAT = 'xcp-backup-simulator-state'
const VERSION = 1

interface StateFile {
  readonly format: typeof FORMAT
  readonly version: typeof VERSION
  readonly savedAt: string
  readonly database: DatabaseSnapshot
}

export class StateDirError extends Error {
  readonly code = 'SIM_STATE_DIR'
  constructor(message: string) {
    super(message)
    this.name = 'StateDirError'
  }
}

/**
 * The simulated pool's database in `--state-dir`: one JSON file, replaced atomically (written to a
 * temporary file, synced, renamed over the old one), saved shortly after changes (debounced) and on
 * close. A lock file keeps two simulators from sharing a directory.
 */
export class StateStore {
  #timer: NodeJS.Timeout | undefined
  #firstPendingAt: number | undefined
  #saving: Promise<void> = Promise.resolve()
  #closed = false

  private constructor(
    readonly dir: string,
    private readonly snapshot: () => DatabaseSnapshot,
    private readonly debounceMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Opens (creating) the directory, takes its lock, and reads the saved database if there is one.
   * A state file that cannot be read is an error: it is left in place, never overwritten.
   */
  static async open(
    dir: string,
    snapshot: () => DatabaseSnapshot,
    options: { debounceMs?: number; onError?: (error: unknown) => void } = {},
  ): Promise<{ store: StateStore; saved: DatabaseSnapshot | undefined }> {
    await mkdir(dir, { recursive: true })
    await takeLock(dir)
    const store = new StateStore(dir, snapshot, options.debounceMs ?? 200, options.onError ?? (() => undefined))
    try {
      return { store, saved: await readState(join(dir, STATE_FILE)) }
    } catch (error) {
      await store.releaseLock()
      throw error
    }
  }

  /** Schedules a save; bursts of changes are written once, and at least once a second. */
  scheduleSave(): void {
    if (this.#closed) return
    const now = Date.now()
    this.#firstPendingAt ??= now
    clearTimeout(this.#timer)
    const wait = Math.max(0, Math.min(this.debounceMs, this.#firstPendingAt + 1000 - now))
    // A failed background save is reported; the next change or the close tries again.
    this.#timer = setTimeout(() => this.flush().catch(this.onError), wait)
    this.#timer.unref()
  }

  /** Writes the current database now (after any save in progress). */
  flush(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#firstPendingAt = undefined
    const state: StateFile = {
      format: FORMAT,
      version: VERSION,
      savedAt: new Date().toISOString(),
      database: this.snapshot(),
    }
    this.#saving = this.#saving.catch(() => undefined).then(() => writeAtomically(this.dir, JSON.stringify(state)))
    return this.#saving
  }

  /** Saves a last time and releases the lock. */
  async close(): Promise<void> {
    if (this.#closed) return
    await this.flush()
    this.#closed = true
    await this.releaseLock()
  }

  async releaseLock(): Promise<void> {
    await rm(join(this.dir, LOCK_FILE), { force: true })
  }
}

async function readState(path: string): Promise<DatabaseSnapshot | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  let state: Partial<StateFile>
  try {
    state = JSON.parse(text) as Partial<StateFile>
  } catch (error) {
    throw new StateDirError(
      `${path} is not valid JSON (${(error as Error).message}); it was left untouched: move it away to start from the fixture again`,
    )
  }
  if (state.format !== FORMAT || state.version !== VERSION || !Array.isArray(state.database?.objects)) {
    throw new StateDirError(
      `${path} is not a simulator state file of format ${FORMAT} version ${VERSION}; it was left untouched: move it away to start from the fixture again`,
    )
  }
  return state.database
}

async function writeAtomically(dir: string, text: string): Promise<void> {
  const target = join(dir, STATE_FILE)
  const temporary = join(dir, `.${STATE_FILE}.${process.pid}.tmp`)
  const file = await open(temporary, 'w')
  try {
    await file.writeFile(text)
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(temporary, target)
  const directory = await open(dir, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

async function takeLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' })
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim())
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
      throw new StateDirError(
        `${dir} is in use by another simulator (process ${owner}); stop it or use another --state-dir`,
      )
    }
    await rm(path, { force: true })
  }
  throw new StateDirError(`cannot lock ${dir}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
