import type { LongTermRetention } from './job-schedule'

/**
 * Which backups retention keeps, with Xen Orchestra's semantics (`getOldEntries`, xo-backup-engine.md §5.7),
 * so that a repository shared with XO is pruned the same way by both:
 *
 * - the newest `minRetentionCount` entries are kept;
 * - for each long-term period with a count N (daily, weekly, monthly, yearly), walking from the newest
 *   entry to the oldest, the first N distinct periods that have entries are accepted, and the **oldest**
 *   entry of each accepted period is kept. A period without entries does not use up the count, so gaps in
 *   the backups stretch the retention back in time;
 * - periods are read in the given time zone: days `YYYY-MM-DD`, weeks `gggg-ww` (Sunday to Saturday, week
 *   1 is the one holding 1 January, as moment's default `en` locale numbers them), months `YYYY-MM`,
 *   years `YYYY`.
 *
 * Callers that are about to add a backup pass `retention - 1` so that `retention` remain afterwards (XO
 * does the same); snapshot retention passes the count itself over the existing snapshots.
 */

export const LTR_PERIODS = [
  'daily',
  'weekly',
  'monthly',
  'yearly',
] as const satisfies readonly (keyof LongTermRetention)[]
export type LtrPeriod = (typeof LTR_PERIODS)[number]

/** A schedule's longTermRetention, or part of it (a missing period counts 0). */
export type LongTermRetentionCounts = Partial<LongTermRetention>

export interface RetentionOptions {
  longTermRetention?: LongTermRetentionCounts
  /** IANA time zone the periods are read in; required when a long-term count is above 0. */
  timezone?: string
}

export interface RetentionEntry {
  /** ms since the epoch; entries are given oldest first, strictly increasing. */
  timestamp: number
}

export class RetentionError extends Error {
  readonly code = 'INVALID_RETENTION_INPUT'
}

/** The entries retention drops, in the order given. */
export function getOldEntries<T extends RetentionEntry>(
  minRetentionCount: number,
  entries: readonly T[],
  options: RetentionOptions = {},
): T[] {
  return explainRetention(minRetentionCount, entries, options)
    .filter((decision) => !decision.keep)
    .map((decision) => decision.entry)
}

export interface RetentionDecision<T> {
  entry: T
  keep: boolean
  /** Why it is kept: "last 3" and/or the periods it represents ("daily=2026-11-21", "weekly=2026-47"). */
  reasons: string[]
}

/** Every entry with whether it is kept and why, in the order given. */
export function explainRetention<T extends RetentionEntry>(
  minRetentionCount: number,
  entries: readonly T[],
  options: RetentionOptions = {},
): RetentionDecision<T>[] {
  if (!Number.isInteger(minRetentionCount) || minRetentionCount < 0) {
    throw new RetentionError(`minRetentionCount must be a whole number from 0, got ${minRetentionCount}`)
  }
  checkOrder(entries)
  const representatives = periodRepresentatives(entries, options)
  return entries.map((entry, index) => {
    const reasons: string[] = []
    if (index >= entries.length - minRetentionCount) reasons.push(`last ${minRetentionCount}`)
    reasons.push(...(representatives.get(entry.timestamp) ?? []))
    return { entry, keep: reasons.length > 0, reasons }
  })
}

/**
 * The long-term tags an entry carries among these entries: `<period>=<key>` for each period it is the
 * kept representative of (XO writes them into a new backup's metadata as `tags`).
 */
export function longTermTags<T extends RetentionEntry>(
  entries: readonly T[],
  entry: T,
  options: RetentionOptions = {},
): string[] {
  checkOrder(entries)
  return periodRepresentatives(entries, options).get(entry.timestamp) ?? []
}

/** The key of the period an instant falls in, in a time zone: "2026-11-21", "2026-47", "2026-11", "2026". */
export function periodKey(period: LtrPeriod, timestamp: number, timezone: string): string {
  const { year, month, day } = localDate(timestamp, timezone)
  switch (period) {
    case 'daily':
      return `${year}-${pad(month)}-${pad(day)}`
    case 'weekly':
      return weekKey(year, month, day)
    case 'monthly':
      return `${year}-${pad(month)}`
    case 'yearly':
      return String(year)
  }
}

/** timestamp → the `<period>=<key>` tags of the periods whose kept entry it is. */
function periodRepresentatives<T extends RetentionEntry>(
  entries: readonly T[],
  options: RetentionOptions,
): Map<number, string[]> {
  const counts = options.longTermRetention ?? {}
  const active = LTR_PERIODS.filter((period) => {
    const count = counts[period] ?? 0
    if (!Number.isInteger(count) || count < 0) {
      throw new RetentionError(`longTermRetention.${period} must be a whole number from 0, got ${count}`)
    }
    return count > 0
  })
  const tags = new Map<number, string[]>()
  if (active.length === 0) return tags
  const timezone = options.timezone
  if (timezone === undefined) {
    throw new RetentionError('long-term retention needs a time zone to tell days, weeks, months and years apart')
  }
  for (const period of active) {
    let remaining = counts[period]!
    let current: string | undefined
    let representative: T | undefined
    const keep = () => {
      if (current === undefined || representative === undefined) return
      const list = tags.get(representative.timestamp) ?? []
      list.push(`${period}=${current}`)
      tags.set(representative.timestamp, list)
    }
    for (let index = entries.length - 1; index >= 0; index--) {
      const entry = entries[index]!
      const key = periodKey(period, entry.timestamp, timezone)
      if (key !== current) {
        if (remaining === 0) break
        keep()
        current = key
        remaining--
      }
      representative = entry
    }
    keep()
  }
  return tags
}

function checkOrder(entries: readonly RetentionEntry[]): void {
  for (let index = 0; index < entries.length; index++) {
    const timestamp = entries[index]!.timestamp
    if (!Number.isFinite(timestamp)) {
      throw new RetentionError(`entry ${index} has no valid timestamp (${timestamp})`)
    }
    if (index > 0 && timestamp <= entries[index - 1]!.timestamp) {
      throw new RetentionError(
        `entries must be sorted oldest first with distinct timestamps: entry ${index} (${new Date(timestamp).toISOString()}) is not after entry ${index - 1}`,
      )
    }
  }
}

const dateFormats = new Map<string, Intl.DateTimeFormat>()

function localDate(timestamp: number, timezone: string): { year: number; month: number; day: number } {
  let format = dateFormats.get(timezone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, year: 'numeric', month: 'numeric', day: 'numeric' })
    dateFormats.set(timezone, format)
  }
  const parts = Object.fromEntries(format.formatToParts(timestamp).map((part) => [part.type, part.value]))
  return { year: Number(parts.year), month: Number(parts.month), day: Number(parts.day) }
}

const DAY = 86_400_000

/** moment's `gggg-ww` in the `en` locale: weeks run Sunday to Saturday, week 1 holds 1 January. */
function weekKey(year: number, month: number, day: number): string {
  const date = Date.UTC(year, month - 1, day)
  const saturday = date + (6 - new Date(date).getUTCDay()) * DAY
  const weekYear = new Date(saturday).getUTCFullYear()
  const firstDay = Date.UTC(weekYear, 0, 1)
  const firstSaturday = firstDay + (6 - new Date(firstDay).getUTCDay()) * DAY
  return `${weekYear}-${pad((saturday - firstSaturday) / (7 * DAY) + 1)}`
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}
