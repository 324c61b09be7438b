/**
 * Ids of stored policy objects, from the names users give them. A name may hold spaces, `+`, `(` and `)`
 * (see nameSchema), which a store key cannot (letters, digits, `.`, `_`, `-` only); so every other character
 * is written `_` plus its two hex digits, and `_` itself becomes `_5f`. The mapping is reversible, so
 * `xe pool-param-get` stays readable (`nightly`, `weekly_20full`) and two names never share an id.
 *
 * The id is the object's identity in the pool: the runner's job status record and the markers it writes
 * on snapshots use the BackupJob's id, so renaming a job makes it a new job.
 */

const KEPT = /[A-Za-z0-9.-]/

export function idForName(name: string): string {
  let id = ''
  for (const char of name) {
    if (KEPT.test(char)) id += char
    else {
      const code = char.codePointAt(0)!
      if (code > 0xff) throw new Error(`name ${JSON.stringify(name)} holds a character names cannot have`)
      id += `_${code.toString(16).padStart(2, '0')}`
    }
  }
  return id
}

export function nameForId(id: string): string {
  return id.replace(/_([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
}
