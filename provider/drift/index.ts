/**
 * Drift rules: what counts as drift between the policy and the pools, shared by the providers' read and
 * diff (`pulumi preview --refresh`) and `xcp-backup drift`.
 */
export { replicaFacts, snapshotFacts } from './facts'
export * from './replication-snapshots'
