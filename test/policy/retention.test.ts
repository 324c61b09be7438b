import { describe, expect, it } from 'vitest'
import {
  explainRetention,
  getOldEntries,
  type LongTermRetentionCounts,
  LTR_PERIODS,
  type LtrPeriod,
  longTermTags,
  periodKey,
  RetentionError,
} from '../../provider/policy/retention'

interface Backup {
  id: string
  timestamp: number
}

/** Backups from ISO instants, oldest first, named after their position (b0, b1, ...). */
function backups(...instants: string[]): Backup[] {
  return instants.map((instant, index) => ({ id: `b${index}`, timestamp: Date.parse(instant) }))
}

const ids = (entries: readonly Backup[]) => entries.map((entry) => entry.id)

describe('minimum count', () => {
  const five = backups(
    '2026-11-01T03:00:00Z',
    '2026-11-02T03:00:00Z',
    '2026-11-03T03:00:00Z',
    '2026-11-04T03:00:00Z',
    '2026-11-05T03:00:00Z',
  )

  it('keeps the newest n', () => {
    expect(ids(getOldEntries(2, five))).toEqual(['b0', 'b1', 'b2'])
    expect(ids(getOldEntries(0, five))).toEqual(['b0', 'b1', 'b2', 'b3', 'b4'])
    expect(ids(getOldEntries(5, five))).toEqual([])
    expect(ids(getOldEntries(9, five))).toEqual([])
    expect(getOldEntries(3, [])).toEqual([])
  })

  it('needs no time zone without long-term retention, and ignores zero counts', () => {
    expect(ids(getOldEntries(1, five, { longTermRetention: { daily: 0, weekly: 0 } }))).toEqual([
      'b0',
      'b1',
      'b2',
      'b3',
    ])
  })
})

describe('long-term retention', () => {
  it('keeps the oldest backup of each of the last n days that have backups (Europe/Paris)', () => {
    const entries = backups(
      '2024-08-31T22:00:00Z', // 1 Sep 00:00 Paris: fourth day, too old
      '2024-08-31T22:01:00Z',
      '2024-09-01T22:09:00Z', // 2 Sep: oldest of the day
      '2024-09-01T22:10:00Z',
      '2024-09-02T22:09:00Z', // 3 Sep
      '2024-09-03T22:09:00Z', // 4 Sep: oldest of the day
      '2024-09-03T22:10:00Z',
    )
    const options = { longTermRetention: { daily: 3 }, timezone: 'Europe/Paris' }
    expect(ids(getOldEntries(0, entries, options))).toEqual(['b0', 'b1', 'b3', 'b6'])
  })

  it('reads days in the time zone given', () => {
    const entries = backups('2024-09-03T10:00:00Z', '2024-09-03T14:00:00Z', '2024-09-04T00:09:00Z')
    // UTC: 3 Sep (b0 kept), 4 Sep (b2). Auckland (UTC+12): b0 on 3 Sep, b1 and b2 on 4 Sep (b1 kept).
    expect(ids(getOldEntries(0, entries, { longTermRetention: { daily: 2 }, timezone: 'UTC' }))).toEqual(['b1'])
    expect(ids(getOldEntries(0, entries, { longTermRetention: { daily: 2 }, timezone: 'Pacific/Auckland' }))).toEqual([
      'b2',
    ])
  })

  it('does not let days without backups use up the count', () => {
    const entries = backups(
      '2026-01-01T03:00:00Z',
      '2026-01-05T03:00:00Z',
      '2026-01-10T03:00:00Z',
      '2026-01-20T03:00:00Z',
    )
    expect(ids(getOldEntries(0, entries, { longTermRetention: { daily: 3 }, timezone: 'UTC' }))).toEqual(['b0'])
  })

  it('keeps the oldest backup of a bucket even once the count is used up', () => {
    const entries = backups('2026-01-01T03:00:00Z', '2026-01-02T03:00:00Z', '2026-01-02T15:00:00Z')
    expect(ids(getOldEntries(0, entries, { longTermRetention: { daily: 1 }, timezone: 'UTC' }))).toEqual(['b0', 'b2'])
  })

  it('starts weeks on Sunday', () => {
    const entries = backups(
      '2024-09-14T12:00:00Z', // Saturday
      '2024-09-15T12:00:00Z', // Sunday: a new week
      '2024-09-21T12:00:00Z', // Saturday, same week
      '2024-09-22T12:00:00Z', // Sunday: a new week
    )
    expect(ids(getOldEntries(0, entries, { longTermRetention: { weekly: 2 }, timezone: 'UTC' }))).toEqual(['b0', 'b2'])
  })

  it('keeps the oldest backup of each month and year', () => {
    const entries = backups(
      '2024-06-22T12:00:00Z',
      '2024-07-31T12:00:00Z',
      '2024-08-01T12:00:00Z',
      '2024-08-05T12:00:00Z',
      '2024-09-09T12:00:00Z',
      '2024-09-22T12:00:00Z',
    )
    expect(ids(getOldEntries(0, entries, { longTermRetention: { monthly: 3 }, timezone: 'UTC' }))).toEqual([
      'b0',
      'b3',
      'b5',
    ])
    expect(ids(getOldEntries(0, entries, { longTermRetention: { yearly: 1 }, timezone: 'UTC' }))).toEqual([
      'b1',
      'b2',
      'b3',
      'b4',
      'b5',
    ])
  })

  it('reads months at the time zone boundary', () => {
    // 31 January 23:30 UTC is already 1 February in Paris.
    const entries = backups('2026-01-15T12:00:00Z', '2026-01-31T23:30:00Z', '2026-02-10T12:00:00Z')
    expect(ids(getOldEntries(0, entries, { longTermRetention: { monthly: 1 }, timezone: 'UTC' }))).toEqual(['b0', 'b1'])
    expect(ids(getOldEntries(0, entries, { longTermRetention: { monthly: 1 }, timezone: 'Europe/Paris' }))).toEqual([
      'b0',
      'b2',
    ])
  })

  it('keeps what any rule keeps, and says why', () => {
    const entries = backups(
      '2023-05-18T12:00:00Z',
      '2024-06-15T12:00:00Z',
      '2025-12-30T12:00:00Z',
      '2025-12-31T09:00:00Z',
      '2025-12-31T10:00:00Z',
    )
    const decisions = explainRetention(1, entries, {
      longTermRetention: { daily: 2, weekly: 1, yearly: 2 },
      timezone: 'UTC',
    })
    expect(decisions.map(({ entry, keep, reasons }) => [entry.id, keep, reasons])).toEqual([
      ['b0', false, []],
      ['b1', true, ['yearly=2024']],
      ['b2', true, ['daily=2025-12-30', 'weekly=2026-01', 'yearly=2025']],
      ['b3', true, ['daily=2025-12-31']],
      ['b4', true, ['last 1']],
    ])
    // 28 December 2025 is a Sunday: b2-b4 share the week 2026-01, whose oldest backup is b2.
    expect(
      explainRetention(0, entries, { longTermRetention: { weekly: 1 }, timezone: 'UTC' }).map((d) => d.reasons),
    ).toEqual([[], [], ['weekly=2026-01'], [], []])
  })
})

describe('period keys', () => {
  it.each([
    ['2026-11-21T12:00:00Z', 'UTC', { daily: '2026-11-21', weekly: '2026-47', monthly: '2026-11', yearly: '2026' }],
    ['2025-12-28T12:00:00Z', 'UTC', { daily: '2025-12-28', weekly: '2026-01', monthly: '2025-12', yearly: '2025' }],
    ['2026-01-01T12:00:00Z', 'UTC', { daily: '2026-01-01', weekly: '2026-01', monthly: '2026-01', yearly: '2026' }],
    ['2026-01-04T12:00:00Z', 'UTC', { daily: '2026-01-04', weekly: '2026-02', monthly: '2026-01', yearly: '2026' }],
    ['2026-12-27T12:00:00Z', 'UTC', { daily: '2026-12-27', weekly: '2027-01', monthly: '2026-12', yearly: '2026' }],
    ['2027-01-02T12:00:00Z', 'UTC', { daily: '2027-01-02', weekly: '2027-01', monthly: '2027-01', yearly: '2027' }],
    ['2022-01-01T12:00:00Z', 'UTC', { daily: '2022-01-01', weekly: '2022-01', monthly: '2022-01', yearly: '2022' }],
    [
      '2021-12-31T23:30:00Z',
      'Europe/Paris',
      { daily: '2022-01-01', weekly: '2022-01', monthly: '2022-01', yearly: '2022' },
    ],
    [
      '2021-12-31T23:30:00Z',
      'America/New_York',
      { daily: '2021-12-31', weekly: '2022-01', monthly: '2021-12', yearly: '2021' },
    ],
    ['2024-12-29T12:00:00Z', 'UTC', { daily: '2024-12-29', weekly: '2025-01', monthly: '2024-12', yearly: '2024' }],
    ['2024-12-28T12:00:00Z', 'UTC', { daily: '2024-12-28', weekly: '2024-52', monthly: '2024-12', yearly: '2024' }],
  ])('%s in %s', (instant, timezone, keys) => {
    for (const period of LTR_PERIODS) expect(periodKey(period, Date.parse(instant), timezone)).toBe(keys[period])
  })

  it('numbers every week of a year 1, 2, ... with 7 days each', () => {
    for (const year of [2020, 2021, 2022, 2023, 2024, 2025, 2026, 2027, 2028]) {
      const counts = new Map<string, number>()
      for (let day = Date.UTC(year, 0, 1); day < Date.UTC(year + 1, 0, 1); day += 86_400_000) {
        const key = periodKey('weekly', day, 'UTC')
        counts.set(key, (counts.get(key) ?? 0) + 1)
      }
      const weeks = [...counts.keys()].filter((key) => key.startsWith(`${year}-`))
      expect(weeks[0]).toBe(`${year}-01`)
      for (const [index, key] of weeks.entries()) expect(key).toBe(`${year}-${String(index + 1).padStart(2, '0')}`)
      // Only the first and last weeks can be cut by the year boundary.
      expect([...counts.values()].slice(1, -1).every((days) => days === 7)).toBe(true)
    }
  })
})

describe('long-term tags', () => {
  it('are the periods an entry is the kept backup of', () => {
    const entries = backups('2026-11-20T03:00:00Z', '2026-11-20T15:00:00Z', '2026-11-21T03:00:00Z')
    const options = { longTermRetention: { daily: 7, weekly: 4, monthly: 12 }, timezone: 'Europe/Paris' }
    expect(longTermTags(entries, entries[2]!, options)).toEqual(['daily=2026-11-21'])
    expect(longTermTags(entries, entries[1]!, options)).toEqual([])
    // The oldest backup of the lot also represents its week (47: 15-21 November) and its month.
    expect(longTermTags(entries, entries[0]!, options)).toEqual([
      'daily=2026-11-20',
      'weekly=2026-47',
      'monthly=2026-11',
    ])
    // The first backup of a new week and month also represents them.
    const first = backups('2026-10-31T03:00:00Z', '2026-11-01T03:00:00Z')
    expect(longTermTags(first, first[1]!, options)).toEqual(['daily=2026-11-01', 'weekly=2026-45', 'monthly=2026-11'])
  })
})

describe('bad input', () => {
  it.each([
    [() => getOldEntries(-1, []), /minRetentionCount must be a whole number from 0, got -1/],
    [() => getOldEntries(1.5, []), /minRetentionCount must be a whole number from 0, got 1.5/],
    [
      () => getOldEntries(0, backups('2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z')),
      /entry 1 \(2026-01-01T00:00:00.000Z\) is not after entry 0/,
    ],
    [
      () => getOldEntries(0, backups('2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')),
      /sorted oldest first with distinct timestamps/,
    ],
    [() => getOldEntries(0, [{ timestamp: Number.NaN }]), /entry 0 has no valid timestamp/],
    [() => getOldEntries(0, backups('2026-01-01T00:00:00Z'), { longTermRetention: { daily: 1 } }), /needs a time zone/],
    [
      () => getOldEntries(0, [], { longTermRetention: { weekly: -1 }, timezone: 'UTC' }),
      /longTermRetention.weekly must be a whole number/,
    ],
  ])('%#: is refused with a reason', (run, message) => {
    expect(run).toThrow(RetentionError)
    expect(run).toThrow(message)
  })
})

/** An independent statement of the rule, by grouping instead of walking: what the walk must agree with. */
function oracle(min: number, entries: readonly Backup[], counts: LongTermRetentionCounts, timezone: string): string[] {
  const kept = new Set(entries.slice(Math.max(0, entries.length - min)).map((entry) => entry.id))
  for (const period of Object.keys(counts) as LtrPeriod[]) {
    const oldestByKey = new Map<string, Backup>()
    for (const entry of entries) {
      const key = periodKey(period, entry.timestamp, timezone)
      if (!oldestByKey.has(key)) oldestByKey.set(key, entry)
    }
    const newestKeys = [...oldestByKey.keys()].sort().reverse().slice(0, counts[period])
    for (const key of newestKeys) kept.add(oldestByKey.get(key)!.id)
  }
  return entries.filter((entry) => !kept.has(entry.id)).map((entry) => entry.id)
}

describe('agrees with an independent statement of the rule', () => {
  it('on 300 random histories in several time zones', () => {
    let seed = 42
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    const zones = ['UTC', 'Europe/Paris', 'America/New_York', 'Pacific/Auckland', 'Asia/Calcutta']
    for (let run = 0; run < 300; run++) {
      let time = Date.UTC(2024, 0, 1) + Math.floor(random() * 400) * 86_400_000
      const entries: Backup[] = []
      const length = Math.floor(random() * 40)
      for (let i = 0; i < length; i++) {
        // Gaps from minutes to months, so buckets are sometimes shared and sometimes skipped.
        time += Math.floor(random() ** 3 * 60 * 86_400_000) + 60_000
        entries.push({ id: `b${i}`, timestamp: time })
      }
      const counts: LongTermRetentionCounts = {}
      for (const period of LTR_PERIODS) if (random() < 0.5) counts[period] = Math.floor(random() * 6)
      const min = Math.floor(random() * 5)
      const timezone = zones[run % zones.length]!
      const options = { longTermRetention: counts, timezone }
      expect(ids(getOldEntries(min, entries, options)), JSON.stringify({ min, counts, timezone })).toEqual(
        oracle(min, entries, counts, timezone),
      )
    }
  })
})
