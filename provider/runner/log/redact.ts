/**
 * Keeps secrets out of everything the run log writes or emits: the passwords the runner knows (pool
 * passwords from its configuration) and credentials written into URLs (`smb://user:pass@host`).
 */
export type Redactor = (text: string) => string

export const REDACTED = '***'

/** Credentials in a URL's authority: scheme://user:password@ */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s/@]*@/gi

/** Secrets shorter than this are not searched for: they would match ordinary words. */
const MIN_SECRET_LENGTH = 4

export function createRedactor(secrets: readonly string[] = []): Redactor {
  const known = [...new Set(secrets.filter((secret) => secret.length >= MIN_SECRET_LENGTH))].sort(
    (a, b) => b.length - a.length,
  )
  return (text) => {
    let out = text.replace(URL_CREDENTIALS, `$1:${REDACTED}@`)
    for (const secret of known) out = out.replaceAll(secret, REDACTED)
    return out
  }
}

/** A JSON-like value with every string (and object key) passed through the redactor. */
export function redactDeep<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as T
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, redact)) as T
  if (value !== null && typeof value === 'object' && isPlainObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[redact(key)] = redactDeep(item, redact)
    return out as T
  }
  return value
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}
