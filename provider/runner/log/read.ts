import { readFileSync } from 'node:fs'
import { logEventSchema } from './events'
import { RunLogFormatError, RunTree } from './tree'

export interface RunFile {
  tree: RunTree
  /** Bytes up to the end of the last complete event: where appending may resume. */
  validBytes: number
  /** A partial last line was found (the writer died in the middle of it) and ignored. */
  truncated: boolean
}

/**
 * Reads one run's events. A last line cut by a crash is ignored (a crash loses at most the event being
 * written); any other bad line is an error naming the file and line, since it means the file was
 * damaged or edited.
 */
export function readRunFile(path: string): RunFile {
  const bytes = readFileSync(path)
  const tree = new RunTree()
  let offset = 0
  let line = 0
  while (offset < bytes.length) {
    const newline = bytes.indexOf(0x0a, offset)
    line++
    if (newline === -1) return { tree, validBytes: offset, truncated: true }
    const text = bytes.subarray(offset, newline).toString('utf8')
    try {
      tree.apply(logEventSchema.parse(JSON.parse(text)))
    } catch (error) {
      const reason = error instanceof RunLogFormatError ? error.message : 'not a run log event'
      throw new RunLogFormatError(`${path}, line ${line}: ${reason}; the file is damaged`)
    }
    offset = newline + 1
  }
  return { tree, validBytes: offset, truncated: false }
}
