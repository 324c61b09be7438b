import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import type { RunOwner } from './events'

/** Identifies this process among every process that ever wrote to the state directory. */
const instance = randomUUID()

/** The process writing runs, as recorded in each run's header. */
export function currentOwner(): RunOwner {
  const owner: RunOwner = { pid: process.pid, hostname: hostname(), instance }
  const boot = bootId()
  if (boot !== undefined) owner.bootId = boot
  return owner
}

/**
 * Whether the process that wrote a run may still be writing it. One runner uses a state directory, so
 * a writer on another host, before the last reboot, or with this process's pid but another instance
 * (a restarted container's pid 1) is gone; otherwise the pid tells. A recycled pid keeps a dead run
 * pending until that process ends too.
 */
export function ownerMayBeAlive(owner: RunOwner): boolean {
  if (owner.instance === instance) return true
  if (owner.hostname !== hostname()) return false
  const boot = bootId()
  if (owner.bootId !== undefined && boot !== undefined && owner.bootId !== boot) return false
  if (owner.pid === process.pid) return false
  try {
    process.kill(owner.pid, 0)
    return true
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM'
  }
}

let cachedBootId: string | null | undefined

/** Linux's id of the current boot; undefined elsewhere. */
function bootId(): string | undefined {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    } catch {
      cachedBootId = null
    }
  }
  return cachedBootId ?? undefined
}
