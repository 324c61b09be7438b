import { nameBasedUuid } from '../common/uuid'

/**
 * Ids of stored policy objects that users identify by name (Remote, BackupJob, ReplicationTarget): a
 * name-based UUID (RFC 9562 version 5) of the name, in a namespace per kind. Deterministic, so a name has
 * one key in the pool whoever applies it (two stacks cannot both own "nightly"), and a UUID, as Xen
 * Orchestra's ids are: the runner writes a job's id into `xo:backup:job` on snapshots and into the remote
 * layout (`vdis/<jobId>/`), where XO expects UUIDs. Renaming an object makes it another object.
 *
 * The namespaces were drawn at random once; changing one would give every object of that kind a new id
 * (and orphan jobs' backups from their retention), so they never change.
 */
export const ID_NAMESPACES = {
  Remote: 'ac8068bc-12ce-4f45-99ea-113a11d5ccdd',
  BackupJob: 'e0c3b095-1d0b-44ed-b2ce-d3163cb744bc',
  ReplicationTarget: '3fc6bf4c-b6d8-435b-a547-bd245c085709',
} as const

export type NamedKind = keyof typeof ID_NAMESPACES

export function idForName(kind: NamedKind, name: string): string {
  return nameBasedUuid(ID_NAMESPACES[kind], name)
}
