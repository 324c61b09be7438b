import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach } from 'vitest'

/** Fresh state directories, removed after each test (or after all the file's tests, for shared fixtures). */
export function useStateDirs(lifetime: 'test' | 'file' = 'test'): () => string {
  const made: string[] = []
  ;(lifetime === 'test' ? afterEach : afterAll)(() => {
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
