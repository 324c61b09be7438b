import * as pulumi from '@pulumi/pulumi'
import * as xcp from 'pulumi-xcp-backup'

// Continuous replication from the production pool ("main", the default) to an SR of the disaster-recovery
// pool ("dr"). Both pools are configured in xcp-backup:pools: see README.md.
const config = new pulumi.Config()

// The SR is in the dr pool, so the target is stored there (pool: 'dr'); the job stays in main.
const drSite = new xcp.ReplicationTarget('dr-site', {
  name: 'dr-site',
  sr: config.get('drSr') ?? 'DR storage',
  pool: 'dr',
})

// Every 4 hours, a delta of each prod VM is applied to its replica on the DR SR; the last 3 replicas are
// kept (an RPO of 4 hours, and 12 hours of history to fall back on).
const replication = new xcp.BackupJob('replicate-prod', {
  name: 'replicate prod',
  mode: 'delta',
  vms: { select: 'smart', tags: ['prod'] },
  replicationTargets: [drSite.name],
  schedules: [{ name: 'every 4 hours', cron: '0 */4 * * *', copyRetention: 3 }],
})

export const replicatedVms = replication.selectedVms
export const drStorage = pulumi
  .all([drSite.srName, drSite.srType, drSite.srFreeSpace])
  .apply(([name, type, free]) => ({ name, type, freeGiB: Math.round(free / 2 ** 30) }))
// Replication snapshots on source VMs that no replica continues from.
export const orphanedSnapshots = drSite.orphanedSnapshots
export const orphansOfMissingSrs = drSite.orphansOfMissingSrs
