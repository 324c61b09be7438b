import { closest } from './suggest'

/**
 * Time zones: the IANA names this Node.js knows (`Intl.supportedValuesOf('timeZone')`) plus `UTC`.
 * ICU lists some zones under their older names (Asia/Calcutta, Europe/Kiev) and leaves out the Etc/ zones,
 * so any other name the runtime accepts (Asia/Kolkata, Europe/Kyiv, US/Eastern, Etc/UTC, Etc/GMT+5) is
 * accepted as written; a name that only differs from a listed one by case is not, so that one zone is
 * always spelt one way.
 */
let canonicalZones: ReadonlySet<string> | undefined
let zonesByLowerCase: ReadonlyMap<string, string> | undefined

function zones(): ReadonlySet<string> {
  canonicalZones ??= new Set([...Intl.supportedValuesOf('timeZone'), 'UTC'])
  return canonicalZones
}

/** What is wrong with a time zone name, as a sentence; undefined when it is valid. */
export function timezoneProblem(name: string): string | undefined {
  const known = zones()
  if (known.has(name)) return undefined
  zonesByLowerCase ??= new Map([...known].map((zone) => [zone.toLowerCase(), zone]))
  const sameButCase = zonesByLowerCase.get(name.toLowerCase())
  if (sameButCase === undefined && resolvesAsAlias(name)) return undefined
  const suggestion = sameButCase ?? closest(name, known)
  const hint = suggestion === undefined ? '' : `: did you mean ${JSON.stringify(suggestion)}?`
  return `${JSON.stringify(name)} is not an IANA time zone name such as "Europe/Paris", "America/New_York" or "UTC"${hint}`
}

function resolvesAsAlias(name: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(name)) return false
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name })
    return true
  } catch {
    return false
  }
}
