import { randomUUID } from 'node:crypto'

/** XAPI's null reference: every ref field that points nowhere holds it (never `null` or `''`). */
export const NULL_REF = 'OpaqueRef:NULL'

/** XAPI's "no date": `Date.epoch` in XAPI's clock library. */
export const EPOCH = '19700101T00:00:00Z'

export function newUuid(): string {
  return randomUUID()
}

/** Refs look like XAPI's: `OpaqueRef:` followed by a fresh uuid. */
export function newRef(): string {
  return `OpaqueRef:${randomUUID()}`
}

export function isNullRef(ref: string): boolean {
  return ref === NULL_REF || ref === ''
}

/** Formats a date the way XAPI puts it on the wire: `YYYYMMDDTHH:MM:SSZ` (UTC, no dashes). */
export function formatXapiDateTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  return (
    `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}Z`
  )
}

export function xapiNow(): string {
  return formatXapiDateTime(new Date())
}

const XAPI_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z?$/

/**
 * Reads a date in one of the forms XAPI accepts (`20250319T04:16:24Z`, ISO 8601, or a JS Date from
 * XML-RPC) and returns XAPI's wire form, or undefined when it is not a date.
 */
export function parseXapiDateTime(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : formatXapiDateTime(value)
  if (typeof value !== 'string') return undefined
  const match = XAPI_DATE.exec(value)
  if (match !== null) {
    const [, y, mo, d, h, mi, s] = match
    return `${y}${mo}${d}T${h}:${mi}:${s}Z`
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? undefined : formatXapiDateTime(date)
}

/** Milliseconds since the epoch of an XAPI date string (EPOCH gives 0). */
export function xapiDateToMillis(value: string): number {
  const match = XAPI_DATE.exec(value)
  if (match === null) return Number.NaN
  const [, y, mo, d, h, mi, s] = match
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
}
