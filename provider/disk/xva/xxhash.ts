import { createHash } from 'node:crypto'
import xxhash from 'xxhash-wasm'

type XxhashApi = Awaited<ReturnType<typeof xxhash>>
let api: Promise<XxhashApi> | undefined

/** XXH64 (seed 0) of `data` as XAPI writes it in `.xxhash` entries: 16 upper-case hex digits. */
export async function xxh64Hex(data: Uint8Array): Promise<string> {
  api ??= xxhash()
  return (await api).h64Raw(data).toString(16).toUpperCase().padStart(16, '0')
}

/** SHA-1 of `data` in hex, as older XAPI versions wrote it in `.checksum` entries. */
export function sha1Hex(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex')
}
