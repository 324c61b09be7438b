export interface Geometry {
  cylinders: number
  heads: number
  sectorsPerTrack: number
}

const MAX_CHS_SECTORS = 65535 * 16 * 255

/**
 * CHS geometry for a disk size, with the integer algorithm of the VHD specification's appendix
 * (the one blktap uses). Nobody in the XAPI/XO path reads it back; qemu uses it only for disks whose
 * creator is `vpc ` or `qemu`.
 */
export function geometryForSize(size: number): Geometry {
  let totalSectors = Math.max(1, Math.ceil(size / 512))
  if (totalSectors > MAX_CHS_SECTORS) totalSectors = MAX_CHS_SECTORS
  let sectorsPerTrack: number
  let heads: number
  let cylinderTimesHeads: number
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255
    heads = 16
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
  } else {
    sectorsPerTrack = 17
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    heads = Math.max(4, Math.floor((cylinderTimesHeads + 1023) / 1024))
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31
      heads = 16
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63
      heads = 16
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    }
  }
  return { cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack }
}
