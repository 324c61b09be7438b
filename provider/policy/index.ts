/**
 * Backup policy: the zod schemas every other part uses (SDK argument types, the providers' `check`, the
 * spec stored in the pool, the runner), and the pure rules that read them (VM selection, schedules,
 * retention).
 */
export * from './backup-job'
export * from './backup-tags'
export { CRON_FORMAT, CRON_PRESETS, canonicalCron, cronProblem, expandCron } from './cron'
export { isUuid } from './fields'
export { type CheckFailure, formatPath, policyErrorMap, toCheckFailures } from './issues'
export * from './job-schedule'
export * from './job-settings'
export * from './job-vms'
export * from './remote'
export * from './remote-url'
export * from './replication-target'
export * from './retention'
export * from './schedule'
export * from './selection'
export * from './stored-spec'
export { timezoneProblem } from './timezone'
export { DURATION_HELP, durationMs, formatDuration, parseByteRate, RATE_HELP } from './units'
export { containsUnknown, isUnknown, tolerateUnknown, UNKNOWN, type Unknowable, type Unknown } from './unknown'
export * from './validate'
export * from './vm-backup-tags'
