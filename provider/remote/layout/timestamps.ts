/**
 * XO's two text forms of a backup time (docs/remote-format.md §2.1), both UTC and both sorting
 * chronologically as strings:
 *   file names            YYYYMMDDTHHmmssZ     20260821T030012Z
 *   xo:backup:datetime    YYYYMMDDTHH:mm:ssZ   20260821T03:00:12Z
 */

const FILENAME_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/
const BACKUP_DATETIME = /^(\d{4})(\d{2})(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/

export function formatFilenameDate(time: number | Date): string {
  const [date, clock] = isoParts(time)
  return `${date}T${clock.replaceAll(':', '')}Z`
}

export function formatBackupDateTime(time: number | Date): string {
  const [date, clock] = isoParts(time)
  return `${date}T${clock}Z`
}

export function isFilenameDate(text: string): boolean {
  return parse(text, FILENAME_DATE) !== undefined
}

/** Parses `YYYYMMDDTHHmmssZ`; throws naming the text when it is not one (or not a real date). */
export function parseFilenameDate(text: string): Date {
  const date = parse(text, FILENAME_DATE)
  if (date === undefined) throw new Error(`"${text}" is not a backup file date (expected YYYYMMDDTHHmmssZ, UTC)`)
  return date
}

/** Parses `YYYYMMDDTHH:mm:ssZ` (the xo:backup:datetime form). */
export function parseBackupDateTime(text: string): Date {
  const date = parse(text, BACKUP_DATETIME)
  if (date === undefined) throw new Error(`"${text}" is not an xo:backup:datetime (expected YYYYMMDDTHH:mm:ssZ, UTC)`)
  return date
}

function isoParts(time: number | Date): [string, string] {
  const date = typeof time === 'number' ? new Date(time) : time
  if (Number.isNaN(date.getTime())) throw new Error(`invalid backup time: ${String(time)}`)
  const iso = date.toISOString() // YYYY-MM-DDTHH:mm:ss.sssZ
  return [iso.slice(0, 10).replaceAll('-', ''), iso.slice(11, 19)]
}

function parse(text: string, pattern: RegExp): Date | undefined {
  const match = pattern.exec(text)
  if (!match) return undefined
  const [year, month, day, hours, minutes, seconds] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const date = new Date(Date.UTC(year, month - 1, day, hours, minutes, seconds))
  // Rejects 20261340T… and friends, which Date.UTC would roll over silently.
  return date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hours &&
    date.getUTCMinutes() === minutes &&
    date.getUTCSeconds() === seconds
    ? date
    : undefined
}
