import type { DiskProvisioner } from './disk-provisioner'
import { seedOf } from './seeds'
import type { StorageLink } from './storage-link'
import { createVdi } from './vdi-factory'

/**
 * The fixture's SRs and disks made by the storage manager: each SR with the record's uuid, type, size
 * and provisioning; each disk a VDI whose `used` fraction is filled with synthetic contents (counted,
 * exported, never stored), seeded from the disk's place in the fixture so every build of a fixture
 * has the same bytes; ISO images fully synthetic, found by file name.
 */
export function storageDiskProvisioner(link: StorageLink): DiskProvisioner {
  let created = 0
  return {
    async createInitialSr(core, sr) {
      const record = core.db.get('SR', sr)
      const smConfig = record.sm_config as Readonly<Record<string, string>>
      const facts = await link.call(() =>
        link.storage.createSr({
          uuid: String(record.uuid),
          type: record.type as Parameters<typeof link.storage.createSr>[0]['type'],
          physicalSize: Number(record.physical_size),
          allocation: smConfig.allocation === 'thick' ? 'thick' : 'thin',
        }),
      )
      link.sync.srUpdated(facts)
    },

    async createInitialDisk(_core, disk) {
      const seed = seedOf(`fixture disk ${created++} ${disk.nameLabel}`)
      const iso = disk.kind === 'iso'
      return createVdi(
        link,
        disk.sr,
        {
          name_label: disk.nameLabel,
          name_description: disk.nameDescription,
          type: 'user',
          sharable: false,
          read_only: iso,
          other_config: {},
          xenstore_data: {},
          sm_config: {},
          tags: [],
          ...(iso ? { location: disk.nameLabel } : {}),
        },
        disk.virtualSize,
        disk.usedFraction > 0 ? { fill: { seed, fraction: disk.usedFraction } } : {},
      )
    },
  }
}
