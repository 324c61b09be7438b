import type { Xapi } from 'xen-api'
import type { PolicyKind } from '../policy/validate'

/**
 * The policy store: specs live in the pool's `other_config`, one key per object, so the pool's own
 * database (replicated to every member, visible with `xe pool-param-get`) is the source of truth for
 * both `pulumi up` and the runner. See docs/policy-store.md.
 *
 * XAPI has no "replace a map entry" call: updating means remove then add, and a crash in between would
 * leave no spec at all. So an update first writes the new value under `<key>~next`, then replaces the
 * main key, then drops `~next`; readers prefer `~next` when present. At every instant a reader sees
 * either the old value or the new one, never a mix and never nothing.
 */
export const KEY_PREFIX = 'xcp-backup:'
const NEXT_SUFFIX = '~next'

const kindKeys: Readonly<Record<PolicyKind | 'JobStatus', string>> = {
  Remote: 'remote',
  BackupJob: 'backup-job',
  ReplicationTarget: 'replication-target',
  VmBackupTags: 'vm-backup-tags',
  JobStatus: 'job-status',
}

export type StoredKind = keyof typeof kindKeys

export function storeKey(kind: StoredKind, id: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new Error(`invalid ${kind} id "${id}": letters, digits, ".", "_", "-" only`)
  return `${KEY_PREFIX}${kindKeys[kind]}:${id}`
}

export interface StoredEntry {
  kind: StoredKind
  id: string
  /** The stored text, as written (an encoded spec envelope or a status record). */
  value: string
}

export class PolicyStore {
  constructor(private readonly xapi: Xapi) {}

  private async poolRef(): Promise<string> {
    const refs = await this.xapi.call<string[]>('pool.get_all')
    const ref = refs[0]
    if (ref === undefined) throw new Error('the pool has no pool object')
    return ref
  }

  private async otherConfig(): Promise<Record<string, string>> {
    return this.xapi.call<Record<string, string>>('pool.get_other_config', await this.poolRef())
  }

  /** Every stored object of a kind (or all kinds), read fresh from XAPI. */
  async list(kind?: StoredKind): Promise<StoredEntry[]> {
    return entriesOf(await this.otherConfig()).filter((entry) => kind === undefined || entry.kind === kind)
  }

  async get(kind: StoredKind, id: string): Promise<string | undefined> {
    const config = await this.otherConfig()
    const key = storeKey(kind, id)
    return config[key + NEXT_SUFFIX] ?? config[key]
  }

  /** Creates or replaces an object; atomic for readers (see the class comment). */
  async put(kind: StoredKind, id: string, value: string): Promise<void> {
    const pool = await this.poolRef()
    const key = storeKey(kind, id)
    const next = key + NEXT_SUFFIX
    await this.xapi.call('pool.remove_from_other_config', pool, next)
    await this.xapi.call('pool.add_to_other_config', pool, next, value)
    await this.xapi.call('pool.remove_from_other_config', pool, key)
    await this.xapi.call('pool.add_to_other_config', pool, key, value)
    await this.xapi.call('pool.remove_from_other_config', pool, next)
  }

  /** Removes an object; removing an absent one succeeds. */
  async remove(kind: StoredKind, id: string): Promise<void> {
    const pool = await this.poolRef()
    const key = storeKey(kind, id)
    await this.xapi.call('pool.remove_from_other_config', pool, key + NEXT_SUFFIX)
    await this.xapi.call('pool.remove_from_other_config', pool, key)
  }
}

/** Reads store entries out of a pool's other_config (also used on cached pool records by the runner). */
export function entriesOf(otherConfig: Readonly<Record<string, string>>): StoredEntry[] {
  const byKey = new Map<string, StoredEntry>()
  const kindsByKey = new Map(Object.entries(kindKeys).map(([kind, key]) => [key, kind as StoredKind]))
  for (const [fullKey, value] of Object.entries(otherConfig)) {
    if (!fullKey.startsWith(KEY_PREFIX)) continue
    const isNext = fullKey.endsWith(NEXT_SUFFIX)
    const key = isNext ? fullKey.slice(0, -NEXT_SUFFIX.length) : fullKey
    const [kindKey, id] = splitOnce(key.slice(KEY_PREFIX.length), ':')
    const kind = kindsByKey.get(kindKey)
    if (kind === undefined || id === '') continue
    if (isNext || !byKey.has(key)) byKey.set(key, { kind, id, value })
  }
  return [...byKey.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id))
}

function splitOnce(text: string, separator: string): [string, string] {
  const index = text.indexOf(separator)
  return index === -1 ? [text, ''] : [text.slice(0, index), text.slice(index + 1)]
}
