import { describe, expect, it } from 'vitest'
import {
  clockChanges,
  describeDuration,
  minimumInterval,
  nextJobRuns,
  nextRuns,
  overlapWarning,
} from '../../provider/policy/schedule'

const iso = (dates: readonly Date[]) => dates.map((date) => date.toISOString())
const HOUR = 3_600_000

describe('nextRuns', () => {
  it('reads the cron expression in the schedule time zone', () => {
    const from = new Date('2026-06-01T00:00:00Z')
    expect(iso(nextRuns({ cron: '0 3 * * *', timezone: 'UTC' }, 2, from))).toEqual([
      '2026-06-01T03:00:00.000Z',
      '2026-06-02T03:00:00.000Z',
    ])
    expect(iso(nextRuns({ cron: '0 3 * * *', timezone: 'Europe/Paris' }, 1, from))).toEqual([
      '2026-06-01T01:00:00.000Z',
    ])
    expect(iso(nextRuns({ cron: '0 3 * * *', timezone: 'America/New_York' }, 1, from))).toEqual([
      '2026-06-01T07:00:00.000Z',
    ])
    expect(iso(nextRuns({ cron: '0 3 * * *', timezone: 'Pacific/Auckland' }, 1, from))).toEqual([
      '2026-06-01T15:00:00.000Z',
    ])
  })

  it('starts strictly after `from`', () => {
    const from = new Date('2026-06-01T03:00:00Z')
    expect(iso(nextRuns({ cron: '0 3 * * *', timezone: 'UTC' }, 1, from))).toEqual(['2026-06-02T03:00:00.000Z'])
  })

  it('fires a 02:30 daily schedule at 03:30 on the day Paris springs forward (02:30 does not exist)', () => {
    // 29 March 2026: clocks jump from 02:00 CET to 03:00 CEST.
    const runs = nextRuns({ cron: '30 2 * * *', timezone: 'Europe/Paris' }, 3, new Date('2026-03-27T12:00:00Z'))
    expect(iso(runs)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:30:00.000Z', // 03:30 CEST: an hour later on the wall clock, 24 hours after the last run
      '2026-03-30T00:30:00.000Z', // 02:30 CEST: 23 hours later
    ])
    expect(runs[2]!.getTime() - runs[1]!.getTime()).toBe(23 * HOUR)
  })

  it('fires a 02:30 daily schedule once on the day Paris falls back (02:30 happens twice)', () => {
    // 25 October 2026: clocks go back from 03:00 CEST to 02:00 CET.
    const runs = nextRuns({ cron: '30 2 * * *', timezone: 'Europe/Paris' }, 3, new Date('2026-10-23T12:00:00Z'))
    expect(iso(runs)).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z', // 02:30 CEST, the first 02:30; not again at 02:30 CET
      '2026-10-26T01:30:00.000Z', // 25 hours later
    ])
  })

  it('keeps an hourly schedule hourly in real time across both changes', () => {
    const back = nextRuns({ cron: '0 * * * *', timezone: 'Europe/Paris' }, 4, new Date('2026-10-24T23:30:00Z'))
    expect(iso(back)).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ])
    const forward = nextRuns({ cron: '0 * * * *', timezone: 'America/New_York' }, 3, new Date('2026-03-08T06:30:00Z'))
    expect(iso(forward)).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-08T08:00:00.000Z', '2026-03-08T09:00:00.000Z'])
  })

  it('expands presets', () => {
    expect(iso(nextRuns({ cron: '@weekly', timezone: 'UTC' }, 1, new Date('2026-11-18T00:00:00Z')))).toEqual([
      '2026-11-22T00:00:00.000Z',
    ])
  })
})

describe('nextJobRuns', () => {
  it('merges the enabled schedules of a job in time order', () => {
    const runs = nextJobRuns(
      [
        { name: 'nightly', cron: '0 2 * * *', timezone: 'UTC' },
        { name: 'weekly', cron: '0 4 * * sun', timezone: 'UTC' },
        { name: 'off', cron: '* * * * *', timezone: 'UTC', enabled: false },
      ],
      4,
      new Date('2026-11-21T12:00:00Z'),
    )
    expect(runs.map((run) => `${run.schedule}@${run.at.toISOString()}`)).toEqual([
      'nightly@2026-11-22T02:00:00.000Z',
      'weekly@2026-11-22T04:00:00.000Z',
      'nightly@2026-11-23T02:00:00.000Z',
      'nightly@2026-11-24T02:00:00.000Z',
    ])
  })
})

describe('minimumInterval', () => {
  const from = new Date('2026-01-15T00:00:00Z')

  it('is the pace of a frequent schedule', () => {
    expect(minimumInterval([{ name: 'often', cron: '*/5 * * * *', timezone: 'Europe/Paris' }], from)?.ms).toBe(
      5 * 60_000,
    )
    expect(minimumInterval([{ name: 'pair', cron: '0,10 3 * * *', timezone: 'UTC' }], from)?.ms).toBe(10 * 60_000)
  })

  it('sees the 23-hour day of a daily schedule when clocks go forward', () => {
    const interval = minimumInterval([{ name: 'daily', cron: '0 3 * * *', timezone: 'Europe/Paris' }], from)
    expect(interval?.ms).toBe(23 * HOUR)
    expect(interval?.second.at.toISOString()).toBe('2026-03-29T01:00:00.000Z')
    expect(minimumInterval([{ name: 'daily', cron: '0 3 * * *', timezone: 'UTC' }], from)?.ms).toBe(24 * HOUR)
  })

  it('sees a change far ahead for a frequent schedule too', () => {
    // Even hours, Paris time. On 29 March 2026 02:00 does not exist: that run happens at 03:00 CEST (01:00 UTC),
    // one hour before the 04:00 CEST run (02:00 UTC). The first look (400 runs) ends in February.
    const interval = minimumInterval([{ name: 'two-hourly', cron: '0 */2 * * *', timezone: 'Europe/Paris' }], from)
    expect(interval?.ms).toBe(HOUR)
    expect(iso([interval!.first.at, interval!.second.at])).toEqual([
      '2026-03-29T01:00:00.000Z',
      '2026-03-29T02:00:00.000Z',
    ])
  })

  it('sees month lengths and leap days', () => {
    expect(minimumInterval([{ name: 'monthly', cron: '0 0 1 * *', timezone: 'UTC' }], from)?.ms).toBe(28 * 24 * HOUR)
    const leap = minimumInterval([{ name: 'leap', cron: '0 0 29 2 *', timezone: 'UTC' }], from)
    expect(iso([leap!.first.at, leap!.second.at])).toEqual(['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z'])
  })

  it('counts runs of every enabled schedule of the job together', () => {
    const together = minimumInterval(
      [
        { name: 'nightly', cron: '0 3 * * *', timezone: 'UTC' },
        { name: 'weekly', cron: '0 3 * * 0', timezone: 'UTC' },
      ],
      from,
    )
    expect(together?.ms).toBe(0)
    expect([together?.first.schedule, together?.second.schedule].sort()).toEqual(['nightly', 'weekly'])
    const apart = minimumInterval(
      [
        { name: 'nightly', cron: '0 3 * * *', timezone: 'UTC' },
        { name: 'evening', cron: '0 20 * * *', timezone: 'Europe/Paris' },
      ],
      from,
    )
    // 20:00 in Paris is 19:00 UTC in winter, 8 hours before 03:00 UTC (9 hours in summer).
    expect(apart?.ms).toBe(8 * HOUR)
    expect(minimumInterval([{ name: 'x', cron: '0 3 * * *', timezone: 'UTC', enabled: false }], from)).toBeUndefined()
  })
})

describe('overlapWarning', () => {
  const from = new Date('2026-06-01T00:00:00Z')

  it('warns when runs come closer than the last run lasted', () => {
    expect(overlapWarning([{ name: 'often', cron: '*/5 * * * *', timezone: 'UTC' }], 40 * 60_000, from)).toBe(
      'schedule "often" fires as little as 5 minutes apart (2026-06-01T00:05:00.000Z and 2026-06-01T00:10:00.000Z), ' +
        'but the last run took 40 minutes: runs starting while one is going will fail with "the job is already running". ' +
        'Space the runs out or make the job faster.',
    )
    expect(
      overlapWarning(
        [
          { name: 'a', cron: '0 3 * * *', timezone: 'UTC' },
          { name: 'b', cron: '0 3 * * 0', timezone: 'UTC' },
        ],
        60_000,
        from,
      ),
    ).toMatch(
      /^schedules "[ab]" and "[ab]" fire at the same time \(2026-06-07T03:00:00.000Z\), but the last run took 1 minute/,
    )
  })

  it('says nothing when runs fit', () => {
    expect(overlapWarning([{ name: 'nightly', cron: '0 3 * * *', timezone: 'UTC' }], 4 * HOUR, from)).toBeUndefined()
  })
})

describe('helpers', () => {
  it('describes durations', () => {
    expect(describeDuration(0)).toBe('0 seconds')
    expect(describeDuration(5 * 60_000)).toBe('5 minutes')
    expect(describeDuration(HOUR)).toBe('1 hour')
    expect(describeDuration(HOUR + 30 * 60_000 + 5_000)).toBe('1 hour 30 minutes')
    expect(describeDuration(23 * HOUR)).toBe('23 hours')
    expect(describeDuration(2 * 24 * HOUR + HOUR)).toBe('2 days 1 hour')
  })

  it('finds the instants clocks change in a zone', () => {
    const start = Date.parse('2026-01-01T00:00:00Z')
    const end = Date.parse('2027-01-01T00:00:00Z')
    expect(iso(clockChanges('Europe/Paris', start, end).map((t) => new Date(t)))).toEqual([
      '2026-03-29T01:00:00.000Z',
      '2026-10-25T01:00:00.000Z',
    ])
    expect(iso(clockChanges('Pacific/Auckland', start, end).map((t) => new Date(t)))).toEqual([
      '2026-04-04T14:00:00.000Z',
      '2026-09-26T14:00:00.000Z',
    ])
    expect(clockChanges('UTC', start, end)).toEqual([])
  })
})
