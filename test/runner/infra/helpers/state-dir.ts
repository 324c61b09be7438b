import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'

/** A fresh state directory per test, removed afterwards. */
export function useStateDirs(): () => string {
  const made: string[] = []
  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'xcp-backup-runner-'))
    made.push(dir)
    return dir
  }
}

/** An error as XAPI reports it: code plus message. */
export function xapiError(code: string, message = `${code}()`): Error {
  return Object.assign(new Error(message), { code })
}
