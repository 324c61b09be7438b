import { CronExpressionParser } from 'cron-parser'
import { closest } from './suggest'

/**
 * Standard 5-field cron (the Vixie/POSIX dialect of crontab(5)): minute hour day-of-month month
 * day-of-week, months 1-12. Xen Orchestra's own dialect numbers months 0-11; expressions copied from XO
 * with a numeric month must be shifted by one. When both day fields are restricted, a day matching
 * either one fires (as in crontab(5) and XO).
 */
export const CRON_FORMAT = 'minute hour day-of-month month day-of-week'
export const CRON_EXAMPLE = '0 3 * * *'

/** The presets XO also knows; they stand for the expression on the right. */
export const CRON_PRESETS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@hourly': '0 * * * *',
}

interface CronField {
  name: string
  min: number
  max: number
  names?: readonly string[]
  /** Offset of names[0]: jan is 1, sun is 0. */
  namesStart?: number
}

const FIELDS: readonly CronField[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
    namesStart: 1,
  },
  { name: 'day-of-week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], namesStart: 0 },
]

/** The expression with runs of blanks collapsed and presets in lower case: what the stored spec keeps. */
export function canonicalCron(expression: string): string {
  const trimmed = expression.trim().split(/\s+/).join(' ')
  return trimmed.startsWith('@') ? trimmed.toLowerCase() : trimmed
}

/** What is wrong with a cron expression, as a sentence that quotes it; undefined when it is valid. */
export function cronProblem(expression: string): string | undefined {
  const problem = syntaxProblem(canonicalCron(expression))
  return problem === undefined ? undefined : `${JSON.stringify(expression)} is not a valid cron expression: ${problem}`
}

/** The 5-field form of a valid expression (presets expanded). */
export function expandCron(expression: string): string {
  const canonical = canonicalCron(expression)
  return CRON_PRESETS[canonical] ?? canonical
}

function syntaxProblem(expression: string): string | undefined {
  if (expression.startsWith('@')) {
    return CRON_PRESETS[expression] === undefined
      ? `unknown preset ${JSON.stringify(expression)}: expected one of ${Object.keys(CRON_PRESETS).join(', ')} or 5 fields (${CRON_FORMAT})`
      : undefined
  }
  const parts = expression === '' ? [] : expression.split(' ')
  if (parts.length !== FIELDS.length) {
    const seconds = parts.length === 6 ? ' (a seconds field is not supported)' : ''
    return `expected 5 fields (${CRON_FORMAT}), e.g. ${JSON.stringify(CRON_EXAMPLE)}; it has ${parts.length}${seconds}`
  }
  for (const [index, field] of FIELDS.entries()) {
    const problem = fieldProblem(parts[index]!, field)
    if (problem !== undefined) return problem
  }
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0 })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return /day of month/i.test(message)
      ? 'it never fires: none of its months has that day of the month'
      : `rejected by the cron parser (${message})`
  }
  return undefined
}

function fieldProblem(text: string, field: CronField): string | undefined {
  const odd = /[^0-9a-z*,/-]/i.exec(text)?.[0]
  if (odd !== undefined) {
    return `${field.name} field ${JSON.stringify(text)} uses ${JSON.stringify(odd)}, which standard cron does not have: use numbers${field.names ? ', names' : ''}, *, ranges (1-5), lists (1,3) and steps (*/15)`
  }
  for (const item of text.split(',')) {
    const problem = itemProblem(item, field)
    if (problem !== undefined) return problem
  }
  return undefined
}

function itemProblem(item: string, field: CronField): string | undefined {
  if (item === '') return `${field.name} field has an empty list item`
  const [range, step, extra] = item.split('/')
  if (extra !== undefined) return `${field.name} item ${JSON.stringify(item)} has more than one "/"`
  if (step !== undefined) {
    if (!/^\d+$/.test(step) || Number(step) < 1 || Number(step) > field.max) {
      return `${field.name} step ${JSON.stringify(step)} must be a number from 1 to ${field.max}`
    }
  }
  if (range === '*') return undefined
  const bounds = range!.split('-')
  if (bounds.length > 2 || bounds.some((bound) => bound === '')) {
    return `${field.name} item ${JSON.stringify(item)} is not a number, a name or a range like 1-5`
  }
  const values: number[] = []
  for (const bound of bounds) {
    const value = fieldValue(bound, field)
    if (typeof value === 'string') return value
    values.push(value)
  }
  if (values.length === 2 && values[0]! > values[1]!) {
    return `${field.name} range ${JSON.stringify(range)} runs backwards: write the smaller value first`
  }
  return undefined
}

function fieldValue(text: string, field: CronField): number | string {
  if (/^\d+$/.test(text)) {
    const value = Number(text)
    if (value >= field.min && value <= field.max) return value
    const xoHint =
      field.name === 'month' && value === 0 ? ' (months are 1-12 here; Xen Orchestra numbers them 0-11)' : ''
    return `${field.name} ${value} is out of range ${field.min}-${field.max}${xoHint}`
  }
  const extension = /^(?:\d*L|\d+W|LW|H)$/.exec(text)
  if (extension !== null) {
    const letter = text.replace(/\d/g, '').slice(-1)
    return `${field.name} value ${JSON.stringify(text)} uses ${JSON.stringify(letter)}, which standard cron does not have: use numbers${field.names ? ', names' : ''}, *, ranges (1-5), lists (1,3) and steps (*/15)`
  }
  const index = field.names?.indexOf(text.toLowerCase()) ?? -1
  if (index >= 0) return index + field.namesStart!
  const allowed = field.names
    ? `${field.min}-${field.max} or ${field.names[0]}-${field.names.at(-1)}`
    : `${field.min}-${field.max}`
  const suggestion = field.names === undefined ? undefined : closest(text.toLowerCase(), field.names)
  const hint = suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`
  return `${field.name} value ${JSON.stringify(text)} is not allowed: expected ${allowed}${hint}`
}
