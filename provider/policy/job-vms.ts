import { z } from 'zod'
import { DEFAULT_EXCLUDED_TAGS, isNoBackupTag, NO_BACKUP_TAG } from './backup-tags'
import { objectRefSchema, setOf, strictObject, tagSchema } from './fields'
import { isUnknown, knownArray, type Unknowable } from './unknown'

export const explicitSelectionSchema = strictObject({
  select: z.literal('explicit').meta({ description: 'Back up exactly the VMs listed.' }),
  list: setOf(
    objectRefSchema('A VM by uuid or by name_label; a name must match exactly one VM when the job runs.'),
    'list',
  )
    .min(1)
    .meta({ description: 'The VMs, by uuid or name_label.', examples: [['web-1', 'db-1']] }),
}).meta({
  id: 'ExplicitVmSelection',
  description:
    'A fixed list of VMs. A VM tagged xo:no-bak is still left out, with the reason in the run log (Xen Orchestra ' +
    'documents this but only does it for smart selections).',
})

export const PowerStates = ['Running', 'Halted', 'any'] as const

export const smartSelectionSchema = strictObject({
  select: z.literal('smart').meta({
    description: 'Select VMs by pool, power state and tags when the job runs, so new VMs are picked up without edits.',
  }),
  pools: setOf(z.string().min(1), 'pools')
    .default([])
    .meta({ description: 'Only VMs of these pools (names or uuids); empty: the pool that stores the job.' }),
  powerState: z
    .enum(PowerStates)
    .default('any')
    .meta({ description: 'Only VMs in this power state when the job runs ("Halted" does not include Suspended).' }),
  tags: setOf(tagSchema(), 'tags')
    .default([])
    .meta({ description: 'Only VMs carrying at least one of these tags; empty: no tag needed.', examples: [['prod']] }),
  excludeTags: setOf(tagSchema(), 'excludeTags')
    .default([...DEFAULT_EXCLUDED_TAGS])
    .meta({
      description:
        'Leave out VMs carrying any of these tags, even when they also carry an included tag (exclusion wins). ' +
        'The default leaves out replicas made by other jobs; a list you give replaces it. VMs tagged ' +
        `${NO_BACKUP_TAG} are always left out.`,
    }),
}).meta({
  id: 'SmartVmSelection',
  description:
    'VMs chosen when the job runs. Templates, snapshots, the control domain and replicas made by this job are ' +
    'never selected. If nothing matches, the run is skipped with "no VMs match this pattern".',
})

const selectionUnion = z.discriminatedUnion('select', [explicitSelectionSchema, smartSelectionSchema])

export type VmSelectionInput = z.input<typeof selectionUnion>
export type VmSelection = z.output<typeof selectionUnion>

export const vmSelectionSchema = selectionUnion
  .superRefine((selection, ctx) => checkSelection(selection, ctx))
  .meta({
    description:
      'Which VMs the job backs up: { select: "explicit", list: [...] } or { select: "smart", tags: [...], ... }.',
  })

function checkSelection(selection: Unknowable<VmSelection>, ctx: z.RefinementCtx): void {
  if (isUnknown(selection) || selection.select !== 'smart') return
  const tags = knownArray(selection.tags) ?? []
  const excluded = new Set(knownArray(selection.excludeTags) ?? [])
  for (const [index, tag] of tags.entries()) {
    if (isUnknown(tag)) continue
    if (isNoBackupTag(tag)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tags', index],
        message: `VMs tagged ${JSON.stringify(tag)} are never backed up, so including them selects nothing`,
      })
    } else if (excluded.has(tag)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tags', index],
        message: `${JSON.stringify(tag)} is both included and excluded; exclusion wins, so it would select nothing`,
      })
    }
  }
}
