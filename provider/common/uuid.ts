import { createHash } from 'node:crypto'

/**
 * RFC 9562 §5.5 UUID version 5: SHA-1 of the namespace's 16 bytes followed by the name in UTF-8.
 * Stored object ids and schedule ids are derived this way, so the same name always gives the same id.
 */
export function nameBasedUuid(namespace: string, name: string): string {
  const namespaceBytes = Buffer.from(namespace.replaceAll('-', ''), 'hex')
  if (namespaceBytes.length !== 16) throw new TypeError(`namespace ${JSON.stringify(namespace)} is not a UUID`)
  const hash = createHash('sha1').update(namespaceBytes).update(name, 'utf8').digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
