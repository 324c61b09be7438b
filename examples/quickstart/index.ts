import * as pulumi from '@pulumi/pulumi'
import * as xcp from 'pulumi-xcp-backup'

// Backup policy for the simulator's demo pool (simulator/fixtures/demo-pool.yaml): VMs web-01, db-01 and
// legacy-app carry the tag "prod", build-runner is tagged xo:no-bak, db-01's disks are on a thick LVM SR.
// The pool comes from the stack config (xcp-backup:pools) or XCP_BACKUP_URL/USER/PASSWORD: see README.md.
const config = new pulumi.Config()

// Where backups go: a directory on the backup host, in the layout Xen Orchestra reads.
const local = new xcp.Remote('local', {
  name: 'local',
  url: `file://${config.get('backupDir') ?? '/var/lib/xcp-backup/backups'}`,
})

// Optionally a second copy on an SMB share; its password stays a secret from the config to the pool.
const offsiteUrl = config.get('offsiteUrl')
const offsite =
  offsiteUrl === undefined
    ? undefined
    : new xcp.Remote('offsite', {
        name: 'offsite',
        url: offsiteUrl,
        credentials: { password: config.requireSecret('offsitePassword') },
      })

// Every night at 02:00 (Paris time), a delta backup of every VM tagged prod: a week of backups on each
// remote, a full backup forced every 7th run so chains stay short.
const nightly = new xcp.BackupJob('nightly', {
  name: 'nightly',
  mode: 'delta',
  vms: { select: 'smart', tags: ['prod'] },
  remotes: [local.name, ...(offsite === undefined ? [] : [offsite.name])],
  schedules: [{ name: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Paris', exportRetention: 7, fullInterval: 7 }],
  settings: { concurrency: 2, timeout: '4h' },
})

// Every Sunday at 04:00, a full (XVA) backup compressed with zstd, kept four weeks plus one per month for
// six months.
const weekly = new xcp.BackupJob('weekly-full', {
  name: 'weekly full',
  mode: 'full',
  compression: 'zstd',
  vms: { select: 'smart', tags: ['prod'] },
  remotes: [local.name],
  schedules: [
    {
      name: 'sunday',
      cron: '0 4 * * sun',
      timezone: 'Europe/Paris',
      exportRetention: 4,
      longTermRetention: { monthly: 6 },
    },
  ],
})

// Modifier tags: the database is snapshotted with its RAM (application-consistent restore), the legacy
// application is shut down cleanly for its snapshot and started again.
new xcp.VmBackupTags('db-memory', { vms: ['db-01'], tags: ['xo-memory-backup'] })
new xcp.VmBackupTags('legacy-offline', { vms: ['legacy-app'], tags: ['xo-offline-backup'] })

export const nightlyVms = nightly.selectedVms
export const nightlyNextRuns = nightly.nextRuns
export const weeklyNextRuns = weekly.nextRuns
export const warnings = pulumi.all([nightly.warnings, weekly.warnings]).apply(([a, b]) => [...a, ...b])
