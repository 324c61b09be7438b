import { formatDuration } from '../../policy/units'

/** Numbers as the progress display and `xcp-backup logs` print them. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const

/** 1536 → "1.5 KiB"; one decimal below 100 of a unit, none above. */
export function formatBytes(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  if (unit === 0) return `${Math.round(value)} B`
  return `${value < 100 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`
}

/** 754_000 → "12m34s"; under a second → "0s". */
export function formatElapsed(ms: number): string {
  return formatDuration(Math.max(0, ms))
}

const timeFormats = new Map<string, Intl.DateTimeFormat>()

/** "03:00:12" in the given time zone (default: this machine's). */
export function formatClock(ms: number, timeZone?: string): string {
  const key = timeZone ?? ''
  let format = timeFormats.get(key)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-GB', {
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZone,
    })
    timeFormats.set(key, format)
  }
  return format.format(ms)
}

/** "2026-06-01 03:00:12" in the given time zone. */
export function formatDateTime(ms: number, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    timeZone,
  }).format(ms)
  return `${parts} ${formatClock(ms, timeZone)}`
}
