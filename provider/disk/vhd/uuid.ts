import { invalidArgument } from './errors'

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The 16 bytes of a UUID in RFC 4122 order, as XO and blktap store unique ids. */
export function uuidToBytes(uuid: string, field = 'uuid'): Buffer {
  if (!UUID_PATTERN.test(uuid)) throw invalidArgument('not a UUID', field, uuid, 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx')
  return Buffer.from(uuid.replaceAll('-', ''), 'hex')
}

export function uuidFromBytes(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export const NIL_UUID = '00000000-0000-0000-0000-000000000000'
