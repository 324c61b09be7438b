import type { z } from 'zod'
import { nameSchema, objectRefSchema, poolSchema, strictObject } from './fields'

export const replicationTargetSchema = strictObject({
  name: nameSchema(
    'Name of the replication target. Backup jobs list it in `replicationTargets`. It identifies the target: ' +
      'changing it replaces the resource.',
  ),
  sr: objectRefSchema(
    'The SR that receives the replicas, by uuid or by name_label (the name must match exactly one SR of the pool).',
  ),
  pool: poolSchema.optional().meta({
    description:
      'Configured pool that holds the SR, when it is not the pool of the jobs that replicate to it: replication ' +
      'across pools (the runner connects to both). Omit it for the only (or default) configured pool.',
  }),
}).meta({
  description:
    'An SR that receives replicas of VMs: continuous replication (delta jobs) or disaster recovery copies (full ' +
    'jobs). Replicas are VMs blocked from starting, tagged "Continuous Replication" or "Disaster Recovery".',
})

export type ReplicationTargetInput = z.input<typeof replicationTargetSchema>
export type ReplicationTarget = z.output<typeof replicationTargetSchema>
