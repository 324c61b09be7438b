import type { z } from 'zod'
import { isNoBackupTag, MEMORY_BACKUP_TAG, NO_BACKUP_TAG, OFFLINE_BACKUP_TAG } from './backup-tags'
import { objectRefSchema, poolSchema, setOf, sortedSet, strictObject, tagSchema } from './fields'
import { isUnknown, knownArray, type Unknowable } from './unknown'

const vmBackupTagsObject = strictObject({
  vms: setOf(objectRefSchema('A VM, by uuid or by name_label (the name must match exactly one VM).'), 'vms')
    .min(1)
    .meta({ description: 'VMs that carry the tags, by uuid or name_label.', examples: [['db-1', 'db-2']] }),
  tags: setOf(tagSchema(), 'tags')
    .min(1)
    .meta({
      description:
        `Tags these VMs hold while the resource exists (other tags on the VMs are left alone). Modifier tags: ` +
        `"${MEMORY_BACKUP_TAG}" snapshots the VM with its RAM (checkpoint), so a restored VM resumes where it was; ` +
        `"${OFFLINE_BACKUP_TAG}" shuts the VM down cleanly for the snapshot and starts it again right away; ` +
        `"${NO_BACKUP_TAG}" (or "${NO_BACKUP_TAG}=<reason>") keeps the VM out of every job, even one that lists it ` +
        'explicitly. Any other string is a plain tag that smart selections can match.',
      examples: [[MEMORY_BACKUP_TAG], ['xo:no-bak=scratch VM']],
    }),
  pool: poolSchema.optional().meta({
    description:
      'Configured pool the VMs are in, when the provider is configured with several pools. Omit it for the only ' +
      '(or default) configured pool.',
  }),
})

export type VmBackupTagsInput = z.input<typeof vmBackupTagsObject>
export type VmBackupTags = z.output<typeof vmBackupTagsObject>

export const vmBackupTagsSchema = vmBackupTagsObject
  .superRefine((spec, ctx) => checkTags(spec, ctx))
  .meta({
    description:
      'Tags set on VMs to steer backups: modifier tags that change how a VM is snapshotted or keep it out of ' +
      'backups, or plain tags that smart selections of backup jobs match.',
  })

function checkTags(spec: Unknowable<VmBackupTags>, ctx: z.RefinementCtx): void {
  if (isUnknown(spec)) return
  const tags = knownArray(spec.tags)
  if (tags === undefined) return
  const memory = tags.indexOf(MEMORY_BACKUP_TAG)
  if (memory >= 0 && tags.includes(OFFLINE_BACKUP_TAG)) {
    ctx.addIssue({
      code: 'custom',
      path: ['tags', memory],
      message: `"${MEMORY_BACKUP_TAG}" saves the RAM of a running VM, but "${OFFLINE_BACKUP_TAG}" shuts the VM down first: keep one of them`,
    })
  }
  const noBackup = tags.filter((tag) => !isUnknown(tag) && isNoBackupTag(tag))
  if (noBackup.length > 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['tags', tags.indexOf(noBackup[1]!)],
      message: `${NO_BACKUP_TAG} is given twice (${noBackup.map((tag) => JSON.stringify(tag)).join(', ')}): keep one`,
    })
  }
}

/** Canonical form: VMs and tags sorted. */
export function normalizeVmBackupTags<T extends Unknowable<VmBackupTags>>(spec: T): T {
  if (isUnknown(spec)) return spec
  const known = spec as Exclude<Unknowable<VmBackupTags>, string>
  return { ...known, vms: sortedSet(known.vms), tags: sortedSet(known.tags) } as T
}
