import { describe, expect, it } from 'vitest'
import { checkWith } from '../../provider/policy'
import { scheduleSchema } from '../../provider/policy/job-schedule'
import { timezoneProblem } from '../../provider/policy/timezone'
import { durationMs, formatDuration, parseByteRate } from '../../provider/policy/units'

describe('timezoneProblem', () => {
  it.each(['UTC', 'Europe/Paris', 'America/New_York', 'Pacific/Auckland', 'Asia/Calcutta'])('accepts %s', (zone) => {
    expect(timezoneProblem(zone)).toBeUndefined()
  })

  it.each(['Asia/Kolkata', 'Europe/Kyiv', 'US/Eastern', 'Etc/UTC', 'Etc/GMT+5'])(
    'accepts the IANA alias %s that ICU does not list',
    (zone) => {
      expect(timezoneProblem(zone)).toBeUndefined()
    },
  )

  it.each([
    ['Europe/Pari', 'Europe/Paris'],
    ['utc', 'UTC'],
    ['europe/paris', 'Europe/Paris'],
    ['America/New_Yrok', 'America/New_York'],
  ])('refuses %s and suggests %s', (zone, suggestion) => {
    expect(timezoneProblem(zone)).toBe(
      `${JSON.stringify(zone)} is not an IANA time zone name such as "Europe/Paris", "America/New_York" or "UTC": did you mean ${JSON.stringify(suggestion)}?`,
    )
  })

  it.each(['Mars/Olympus_Mons', '+02:00', 'CEST', ''])('refuses %j', (zone) => {
    expect(timezoneProblem(zone)).toMatch(/is not an IANA time zone name/)
  })

  it('defaults a schedule to UTC and reports a bad zone at its path', () => {
    const ok = checkWith(scheduleSchema, { name: 'n', cron: '0 3 * * *' })
    expect(ok.ok && ok.value.timezone).toBe('UTC')
    const bad = checkWith(scheduleSchema, { name: 'n', cron: '0 3 * * *', timezone: 'Paris' })
    expect(bad.ok ? [] : bad.failures.map((f) => f.property)).toEqual(['timezone'])
  })
})

describe('durations', () => {
  it.each([
    ['45s', 45_000, '45s'],
    ['10m', 600_000, '10m'],
    ['4h', 14_400_000, '4h'],
    ['1h30m', 5_400_000, '1h30m'],
    ['90m', 5_400_000, '1h30m'],
    ['2d', 172_800_000, '2d'],
    ['1d12h', 129_600_000, '1d12h'],
    ['3600s', 3_600_000, '1h'],
  ])('reads %s', (text, ms, canonical) => {
    expect(durationMs(text)).toBe(ms)
    expect(formatDuration(ms)).toBe(canonical)
  })

  it.each(['', '0s', '0h0m', '4', '4 hours', '1m1h', '-1h', '1.5h', 'h'])('refuses %j', (text) => {
    expect(durationMs(text)).toBeUndefined()
  })
})

describe('byte rates', () => {
  it.each([
    ['0', 0],
    ['1000', 1000],
    ['100MiB/s', 100 * 1024 ** 2],
    ['100 MiB/s', 100 * 1024 ** 2],
    ['50MB/s', 50_000_000],
    ['1.5GiB/s', 1.5 * 1024 ** 3],
    ['10kB/s', 10_000],
    ['10KiB', 10_240],
    ['2TB/s', 2e12],
    ['512B/s', 512],
  ])('reads %s', (text, bytes) => {
    expect(parseByteRate(text)).toBe(bytes)
  })

  it('refuses bits, missing units and nonsense with a reason', () => {
    expect(parseByteRate('100Mb/s')).toEqual({
      problem: '"100Mb/s" is in bits ("b"): write the rate in bytes ("B"), e.g. "100MiB/s"',
    })
    expect(parseByteRate('100M/s')).toEqual({ problem: '"100M/s" has no unit after "M": add "B"' })
    expect(parseByteRate('fast')).toEqual({ problem: expect.stringMatching(/^"fast" is not a rate: expected/) })
    expect(parseByteRate('-5MB/s')).toEqual({ problem: expect.stringMatching(/is not a rate/) })
  })
})
