import * as pulumi from '@pulumi/pulumi'
import * as xcp from 'pulumi-xcp-backup'

// The policy this repository owns. CI compares it with the pool on every pull request and every hour
// (.github/workflows/drift-gate.yml): anything changed by hand in the pool makes the check fail.
const config = new pulumi.Config()

const local = new xcp.Remote('local', {
  name: 'local',
  url: `file://${config.get('backupDir') ?? '/var/lib/xcp-backup/backups'}`,
})

new xcp.BackupJob('nightly', {
  name: 'nightly',
  mode: 'delta',
  vms: { select: 'smart', tags: ['prod'] },
  remotes: [local.name],
  schedules: [{ name: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Paris', exportRetention: 14, fullInterval: 7 }],
})

// The database is snapshotted with its RAM; removing this tag by hand in XO is drift.
new xcp.VmBackupTags('db-memory', { vms: ['db-01'], tags: ['xo-memory-backup'] })
