import { createHash } from 'node:crypto'

/** A synthetic-content seed (unsigned 32-bit) derived from a name, the same in every run. */
export function seedOf(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0)
}
