import { hostname } from 'node:os'
import type { RunOwner } from './events'

/** The process writing runs, as recorded in each run's header. */
export function currentOwner(): RunOwner {
  return { pid: process.pid, hostname: hostname() }
}

/**
 * Whether the process that wrote a run may still be writing it. A run on another host is assumed alive:
 * nothing here can tell. A recycled pid keeps a dead run pending until that process ends too.
 */
export function ownerMayBeAlive(owner: RunOwner): boolean {
  if (owner.hostname !== hostname()) return true
  if (owner.pid === process.pid) return true
  try {
    process.kill(owner.pid, 0)
    return true
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM'
  }
}
