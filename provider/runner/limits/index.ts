export * from './limiter'
export * from './pool-limits'
export * from './vm-slots'
