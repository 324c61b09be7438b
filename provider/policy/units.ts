/** Durations ("4h", "1h30m", "45s", "2d") and byte rates ("100MiB/s") as users write them in policy. */

const DURATION_UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
] as const

const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/

export const DURATION_HELP = 'a duration such as "45s", "10m", "4h", "1h30m" or "2d"'

/** Milliseconds in a duration, or undefined when the text is not one (or is zero). */
export function durationMs(text: string): number | undefined {
  const match = DURATION.exec(text)
  if (match === null || text === '') return undefined
  const ms = DURATION_UNITS.reduce((sum, [, unit], index) => sum + Number(match[index + 1] ?? 0) * unit, 0)
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined
}

/** The canonical way to write a duration: largest units first, none repeated ("90m" becomes "1h30m"). */
export function formatDuration(ms: number): string {
  let rest = ms
  let text = ''
  for (const [suffix, unit] of DURATION_UNITS) {
    const count = Math.floor(rest / unit)
    rest -= count * unit
    if (count > 0) text += `${count}${suffix}`
  }
  return text === '' ? '0s' : text
}

const RATE = /^(\d+(?:\.\d+)?)\s*(?:([kKMGT])(i?))?(B|b)?(?:\/s)?$/
const PREFIX_POWER: Readonly<Record<string, number>> = { k: 1, K: 1, M: 2, G: 3, T: 4 }

export const RATE_HELP =
  'a number of bytes per second, or a string such as "100MiB/s" or "50 MB/s" (B, kB, KiB, MB, MiB, GB, GiB, TB, TiB)'

/** Bytes per second in a rate string; a reason string when it cannot be read. */
export function parseByteRate(text: string): number | { problem: string } {
  const match = RATE.exec(text.trim())
  if (match === null) return { problem: `${JSON.stringify(text)} is not a rate: expected ${RATE_HELP}` }
  const [, amount, prefix, binary, unit] = match
  if (unit === 'b') {
    return { problem: `${JSON.stringify(text)} is in bits ("b"): write the rate in bytes ("B"), e.g. "100MiB/s"` }
  }
  if (prefix !== undefined && unit === undefined) {
    return { problem: `${JSON.stringify(text)} has no unit after ${JSON.stringify(prefix + binary)}: add "B"` }
  }
  const base = binary === 'i' ? 1024 : 1000
  const power = prefix === undefined ? 0 : PREFIX_POWER[prefix]!
  return Math.floor(Number(amount) * base ** power)
}
