import { z } from 'zod'

/**
 * Shapes of what the storage manager persists (`sr.json` of every SR) and of the SR kinds it knows.
 * Everything loaded from disk is parsed with these, so a damaged state file fails with the field
 * that is wrong instead of corrupting the simulator.
 */

export const SrTypeSchema = z.enum(['ext', 'nfs', 'smb', 'lvm', 'lvmoiscsi', 'lvmohba', 'iso'])
export type SrType = z.infer<typeof SrTypeSchema>

export const AllocationSchema = z.enum(['thick', 'thin'])
export type Allocation = z.infer<typeof AllocationSchema>

/** File SRs keep one VHD file per node (thin); LVHD SRs one LV per node; ISO SRs plain read-only images. */
export type SrFamily = 'file' | 'lvhd' | 'iso'

export function srFamily(type: SrType): SrFamily {
  switch (type) {
    case 'ext':
    case 'nfs':
    case 'smb':
      return 'file'
    case 'lvm':
    case 'lvmoiscsi':
    case 'lvmohba':
      return 'lvhd'
    case 'iso':
      return 'iso'
  }
}

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a lowercase uuid')
const size = z.number().int().nonnegative()

export const UuidSchema = uuid

export const NodeRecordSchema = z.object({
  /** Footer unique id of the VHD (never the VDI uuid). */
  vhd: uuid,
  /** VDI uuid this node is the storage of: a managed leaf, or a hidden base copy. */
  vdi: uuid,
  parent: uuid.nullable(),
  hidden: z.boolean(),
  /** A raw image (no VHD): `sm_config type=raw` on file SRs, `vdi_type=aio` on LVHD, ISO images. */
  raw: z.boolean(),
  virtualSize: size,
  /** Allocated block runs, flat `[start, length, source, ...]`; source -1 = stored bytes, else a synthetic seed. */
  blocks: z.array(z.number().int()),
  /** LVHD only: size of the LV. */
  lvSize: size.optional(),
})
export type NodeRecord = z.infer<typeof NodeRecordSchema>

export const CbtRecordSchema = z.object({
  /** Name of the bitmap file under `cbt/`; a new one per log, so a rotation is a metadata change. */
  log: uuid,
  /** Previous (older) VDI of the CBT chain, as `cbt_log_metadata.parent`. */
  parent: uuid.nullable(),
  /** Next (newer) VDI of the CBT chain. */
  child: uuid.nullable(),
  /** Cleared while the VDI is attached read-write; a crash leaves it cleared. */
  consistent: z.boolean(),
  /** Disk size the bitmap covers. */
  size,
})
export type CbtRecord = z.infer<typeof CbtRecordSchema>

export const AttachmentSchema = z.object({
  /** Who holds it: a VBD, an NBD connection, an import; chosen by the caller, unique per VDI. */
  holder: z.string().min(1),
  readOnly: z.boolean(),
  /** Attached through a VBD of a snapshot VM (`VM.checkpoint`): does not block `list_changed_blocks`. */
  snapshotVm: z.boolean(),
})
export type Attachment = z.infer<typeof AttachmentSchema>

export const VdiOriginSchema = z.enum(['create', 'snapshot', 'clone', 'base-copy'])
export type VdiOrigin = z.infer<typeof VdiOriginSchema>

export const VdiRecordSchema = z.object({
  uuid,
  origin: VdiOriginSchema,
  /** For `snapshot`: the VDI snapshotted. For a base copy made by the GC's internal snapshot: the leaf. */
  snapshotOf: uuid.optional(),
  cbt: CbtRecordSchema.nullable(),
  attachments: z.array(AttachmentSchema),
  /** `sm_config.gc_no_space`: the SM_GC_NO_SPACE message while this VDI cannot be coalesced. */
  gcNoSpace: z.string().optional(),
  /** Set once `data_destroy` removed the VHD: the size the record keeps. */
  dataDestroyedSize: size.optional(),
})
export type VdiRecord = z.infer<typeof VdiRecordSchema>

export const GcRecordSchema = z.object({
  /** Test switch: the host never coalesces while set; kicks are remembered. */
  frozen: z.boolean(),
  /** A kick has not been fully served yet (the GC resumes it after a restart). */
  pending: z.boolean(),
  /** End of the current quiet period, epoch ms. */
  quietUntil: z.number().nullable(),
  /** The `gc_init` marker: set after the first GC since the simulated host booted. */
  bootInitDone: z.boolean(),
  /** The coalesce being run, so a restart finishes it on time. */
  inProgress: z.object({ child: uuid, endsAt: z.number() }).nullable(),
  /** Measured coalesce speeds, bytes per second, last ten (`speed_log`). */
  speeds: z.array(z.number().positive()),
  /** `sm_config.last-coalesce-error`: epoch ms of the last coalesce error message. */
  lastCoalesceErrorAt: z.number().nullable(),
  /** `sm_config.gc_no_space` of the SR: uuid of the SM_GC_NO_SPACE message. */
  noSpaceMessage: z.string().nullable(),
})
export type GcRecord = z.infer<typeof GcRecordSchema>

export const SR_STATE_FORMAT = 'xcp-backup-simulator-sr'

export const SrRecordSchema = z.object({
  format: z.literal(SR_STATE_FORMAT),
  version: z.literal(1),
  uuid,
  type: SrTypeSchema,
  physicalSize: size,
  allocation: AllocationSchema,
  nodes: z.array(NodeRecordSchema),
  vdis: z.array(VdiRecordSchema),
  gc: GcRecordSchema,
})
export type SrRecord = z.infer<typeof SrRecordSchema>
