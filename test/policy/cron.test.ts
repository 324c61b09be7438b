import { describe, expect, it } from 'vitest'
import { canonicalCron, cronProblem, expandCron } from '../../provider/policy/cron'
import { nextRuns } from '../../provider/policy/schedule'

describe('cronProblem', () => {
  it.each([
    '0 3 * * *',
    '*/15 * * * *',
    '0 22 * * 1-5',
    '30 1 * * sun',
    '0 0 1 jan *',
    '0 0 * * MON-FRI',
    '0 */2 * * 0,6',
    '0 0 1-7/2 * *',
    '5/15 * * * *',
    '0 12 * * 7',
    '0 0 29 2 *',
    '  0   3 * *  *  ',
    '@daily',
    '@Weekly',
    '@yearly',
    '@annually',
  ])('accepts %j', (expression) => {
    expect(cronProblem(expression)).toBeUndefined()
  })

  it('names the field count, the format and an example when fields are missing', () => {
    expect(cronProblem('*/5 * * *')).toBe(
      '"*/5 * * *" is not a valid cron expression: expected 5 fields (minute hour day-of-month month day-of-week), e.g. "0 3 * * *"; it has 4',
    )
    expect(cronProblem('')).toMatch(/expected 5 fields .* it has 0$/)
    expect(cronProblem('0 0 3 * * *')).toMatch(/it has 6 \(a seconds field is not supported\)$/)
    expect(cronProblem('0 0 3 * * * 2026')).toMatch(/it has 7$/)
  })

  it.each([
    ['60 * * * *', 'minute 60 is out of range 0-59'],
    ['0 24 * * *', 'hour 24 is out of range 0-23'],
    ['0 0 0 * *', 'day-of-month 0 is out of range 1-31'],
    ['0 0 32 * *', 'day-of-month 32 is out of range 1-31'],
    ['0 0 * 13 *', 'month 13 is out of range 1-12'],
    ['0 0 * * 8', 'day-of-week 8 is out of range 0-7'],
  ])('reports out-of-range values: %j', (expression, message) => {
    expect(cronProblem(expression)).toBe(`${JSON.stringify(expression)} is not a valid cron expression: ${message}`)
  })

  it('points out that XO numbers months from 0', () => {
    expect(cronProblem('0 0 1 0 *')).toMatch(
      /month 0 is out of range 1-12 \(months are 1-12 here; Xen Orchestra numbers them 0-11\)/,
    )
  })

  it.each([
    ['0 0 * mon *', /month value "mon" is not allowed: expected 1-12 or jan-dec/],
    ['0 0 * * wen', /day-of-week value "wen" is not allowed: expected 0-7 or sun-sat \(did you mean "wed"\?\)/],
    ['0 0 * * monday', /day-of-week value "monday" is not allowed/],
    ['0 jan * * *', /hour value "jan" is not allowed: expected 0-23$/],
  ])('accepts names only where they belong: %j', (expression, message) => {
    expect(cronProblem(expression)).toMatch(message)
  })

  it.each([
    ['*/0 * * * *', /minute step "0" must be a number from 1 to 59/],
    ['*/90 * * * *', /minute step "90" must be a number from 1 to 59/],
    ['*/x * * * *', /minute step "x"/],
    ['1/2/3 * * * *', /more than one "\/"/],
    ['5-1 * * * *', /minute range "5-1" runs backwards/],
    ['1- * * * *', /minute item "1-" is not a number, a name or a range/],
    ['1-2-3 * * * *', /minute item "1-2-3"/],
    ['1,,2 * * * *', /minute field has an empty list item/],
  ])('checks steps, ranges and lists: %j', (expression, message) => {
    expect(cronProblem(expression)).toMatch(message)
  })

  it.each([
    ['0 0 ? * *', '"?"'],
    ['0 0 L * *', '"L"'],
    ['0 0 * * 1#2', '"#"'],
    ['H * * * *', '"H"'],
    ['0 0 15W * *', '"W"'],
  ])('refuses extensions that standard cron does not have: %j', (expression, character) => {
    const problem = cronProblem(expression)
    expect(problem).toContain(character)
    expect(problem).toMatch(/standard cron does not have/)
  })

  it('refuses an expression that never fires', () => {
    expect(cronProblem('0 0 31 2 *')).toMatch(/never fires/)
    expect(cronProblem('0 0 30 2 *')).toMatch(/never fires/)
    expect(cronProblem('0 0 31 4,6 *')).toMatch(/never fires/)
  })

  it('refuses unknown presets, listing the known ones', () => {
    expect(cronProblem('@midnight')).toMatch(/unknown preset "@midnight": expected one of @yearly, @annually, @monthly/)
  })
})

describe('cron forms', () => {
  it('canonicalizes blanks and preset case, and expands presets', () => {
    expect(canonicalCron('  0   3 * *\t*  ')).toBe('0 3 * * *')
    expect(canonicalCron('@Daily')).toBe('@daily')
    expect(expandCron('@weekly')).toBe('0 0 * * 0')
    expect(expandCron('0 3 * * *')).toBe('0 3 * * *')
  })

  it('fires on a day matching either day field when both are restricted (crontab and XO semantics)', () => {
    const runs = nextRuns({ cron: '0 0 13 * 5', timezone: 'UTC' }, 4, new Date('2026-01-01T00:00:00Z'))
    // Friday 2 January, Friday 9 January, Tuesday 13 January, Friday 16 January.
    expect(runs.map((run) => run.toISOString().slice(0, 10))).toEqual([
      '2026-01-02',
      '2026-01-09',
      '2026-01-13',
      '2026-01-16',
    ])
  })

  it('reads 7 as Sunday and month names as 1-12', () => {
    const sunday = nextRuns({ cron: '0 12 * * 7', timezone: 'UTC' }, 1, new Date('2026-11-18T00:00:00Z'))
    expect(sunday[0]!.toISOString()).toBe('2026-11-22T12:00:00.000Z')
    const march = nextRuns({ cron: '0 0 1 mar *', timezone: 'UTC' }, 1, new Date('2026-01-01T00:00:00Z'))
    expect(march[0]!.toISOString()).toBe('2026-03-01T00:00:00.000Z')
    const numeric = nextRuns({ cron: '0 0 1 3 *', timezone: 'UTC' }, 1, new Date('2026-01-01T00:00:00Z'))
    expect(numeric).toEqual(march)
  })
})
