import { z } from 'zod'
import { count, objectRefSchema, setOf, strictObject, tagSchema } from './fields'
import { DURATION_HELP, durationMs, formatDuration, parseByteRate, RATE_HELP } from './units'
import { isUnknown, type Unknowable } from './unknown'

export const durationSchema = (description: string) =>
  z
    .string()
    .superRefine((text, ctx) => {
      if (durationMs(text) === undefined) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not ${DURATION_HELP} (greater than 0)` })
      }
    })
    .overwrite((text) => {
      const ms = durationMs(text)
      return ms === undefined ? text : formatDuration(ms)
    })
    .meta({ description })

const byteRateSchema = z
  .union([
    z.number().int().min(0),
    z.string().transform((text, ctx) => {
      const rate = parseByteRate(text)
      if (typeof rate === 'number') return rate
      ctx.addIssue({ code: 'custom', message: rate.problem })
      return z.NEVER
    }),
  ])
  .meta({
    description: `Bandwidth cap shared by all the VMs of a run: ${RATE_HELP}. 0: unlimited. The stored policy keeps bytes per second.`,
  })

export const healthCheckSchema = strictObject({
  sr: objectRefSchema(
    'SR the backup is restored to (from a remote) or the replica copied to, by uuid or name_label. The test VM is ' +
      'destroyed afterwards.',
  ),
  vmsWithTags: setOf(tagSchema(), 'vmsWithTags')
    .default([])
    .meta({ description: 'Check only VMs carrying one of these tags; empty: every VM of the job.' }),
  timeout: durationSchema('How long the restored VM has to boot and report its guest tools.').default('10m'),
}).meta({
  id: 'HealthCheck',
  description:
    'After each VM is backed up, restore the new backup (or copy the new replica), boot it without network and ' +
    'wait for its guest tools, then destroy it. VMs tagged xo:no-health-check are skipped.',
})

const flag = (description: string) => z.boolean().default(false).meta({ description })

const settingsShape = strictObject({
  concurrency: count(
    'VMs backed up at the same time by one run; 0: all at once. Each VM still waits for the snapshot and export ' +
      'limits below.',
  ).default(2),
  snapshotConcurrency: count('Snapshots taken at the same time per pool (XAPI has no queue of its own).', {
    min: 1,
  }).default(2),
  vdiExportConcurrency: count('Disk (VDI) exports at the same time per pool, in delta mode.', { min: 1 }).default(12),
  xvaExportConcurrency: count('Whole-VM (XVA) exports at the same time per pool, in full mode.', { min: 1 }).default(2),
  offlineSnapshot: flag(
    'Shut each running VM down cleanly, snapshot it and start it again right away: a consistent snapshot for a ' +
      'short downtime. VMs tagged xo-offline-backup get this whatever the setting.',
  ),
  offlineBackup: flag(
    'Shut each running VM down cleanly for the whole backup and start it again after the transfer. Keeps no ' +
      'snapshot, so every schedule must have snapshotRetention 0.',
  ),
  checkpointSnapshot: flag(
    'Snapshot running VMs with their RAM (VM.checkpoint), so a restore resumes them. VMs tagged xo-memory-backup ' +
      'get this whatever the setting.',
  ),
  timeout: durationSchema(
    'Longest a run may take. When it is reached, VM backups still running are cancelled and cleaned up (their ' +
      'partial backups removed) and VMs not started are skipped. Xen Orchestra stores this setting but never ' +
      'enforces it; xcp-backup does. Omit it for no limit.',
  ).optional(),
  // A prefault, not a default: zod leaves defaults of transforming schemas out of the input JSON schema.
  maxExportRate: byteRateSchema.prefault(0),
  retries: count(
    'How many more times a VM whose backup failed is tried again, immediately, in the same run (XO: ' +
      'nRetriesVmBackupFailures).',
  ).default(0),
  deleteFirst: flag(
    'Delete the backups that retention drops before transferring the new one instead of after: needs less space ' +
      'on the remote, but leaves one backup fewer if the transfer fails.',
  ),
  maxUncoalescedVdis: count(
    'VDI chain protection: skip a VM (and say why) when one of its disks has more than this many ' +
      'snapshot layers waiting for the SR to coalesce them. The SR refuses snapshots past 30 layers.',
    { max: 29 },
  ).default(1),
  healthCheck: healthCheckSchema.optional(),
})

export type SettingsInput = z.input<typeof settingsShape>
export type Settings = z.output<typeof settingsShape>

export const settingsSchema = settingsShape
  .superRefine((settings, ctx) => checkSettings(settings, ctx))
  .meta({ id: 'BackupJobSettings', description: 'How the job runs; every setting has a default.' })

function checkSettings(settings: Unknowable<Settings>, ctx: z.RefinementCtx): void {
  if (isUnknown(settings)) return
  const { offlineBackup, offlineSnapshot, checkpointSnapshot } = settings
  if (offlineBackup === true && offlineSnapshot === true) {
    ctx.addIssue({
      code: 'custom',
      path: ['offlineSnapshot'],
      message:
        'offlineBackup already keeps the VM shut down for the whole backup, so offlineSnapshot has no effect: set one of them',
    })
  }
  if (checkpointSnapshot === true && (offlineBackup === true || offlineSnapshot === true)) {
    ctx.addIssue({
      code: 'custom',
      path: ['checkpointSnapshot'],
      message: `checkpointSnapshot saves the RAM of a running VM, but ${offlineBackup === true ? 'offlineBackup' : 'offlineSnapshot'} shuts the VM down first: set one of them`,
    })
  }
}
