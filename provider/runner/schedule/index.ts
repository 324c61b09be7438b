export { MAX_TIMER_STEP_MS, WallClockAlarm } from './alarm'
export * from './jobs-file'
export * from './scheduler'
