import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import type { LogEvent } from './events'

/**
 * One run's file, appended to as events happen. Writes are synchronous so events land in order and a
 * crash loses at most the event being written; `sync()` (at every task end) makes them durable. A write
 * failure (disk full) is reported once and later events are kept in memory only: the backup goes on.
 */
export class Journal {
  #fd: number | undefined
  #failed = false

  constructor(
    readonly path: string,
    private readonly onError: (error: Error) => void,
  ) {
    try {
      mkdirSync(dirname(path), { recursive: true })
      this.#fd = openSync(path, 'wx', 0o640)
    } catch (error) {
      this.fail(error)
    }
  }

  append(event: LogEvent): void {
    this.guard(() => writeSync(this.#fd!, `${JSON.stringify(event)}\n`))
  }

  sync(): void {
    this.guard(() => fsyncSync(this.#fd!))
  }

  close(): void {
    this.sync()
    if (this.#fd === undefined) return
    try {
      closeSync(this.#fd)
    } catch {
      // Already reported by sync() if the file is in trouble; nothing more to save.
    }
    this.#fd = undefined
  }

  private guard(write: () => void): void {
    if (this.#fd === undefined || this.#failed) return
    try {
      write()
    } catch (error) {
      this.fail(error)
    }
  }

  private fail(error: unknown): void {
    if (this.#failed) return
    this.#failed = true
    const cause = error instanceof Error ? error : new Error(String(error))
    this.onError(
      Object.assign(
        new Error(`run log ${this.path} cannot be written (${cause.message}): the rest of this run is only in memory`),
        {
          cause,
        },
      ),
    )
  }
}
