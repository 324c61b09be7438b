/**
 * VHD checksum: one's complement of the byte sum of the structure, with its own 4 checksum bytes counted as zero.
 */
export function vhdChecksum(structure: Uint8Array, checksumOffset: number): number {
  let sum = 0
  for (let i = 0; i < structure.length; i++) {
    if (i >= checksumOffset && i < checksumOffset + 4) continue
    sum += structure[i]!
  }
  return ~sum >>> 0
}
