import { z } from 'zod'
import { formatFilenameDate } from './timestamps'

/**
 * The metadata JSON of a VM backup (docs/remote-format.md §3; XO's FullRemoteWriter and
 * IncrementalRemoteWriter). One shape per mode, used two ways:
 * - read schemas are loose: XO's own files carry fields added over the years, kept as they are;
 * - write schemas are strict: what xcp-backup writes has exactly the fields XO's format defines,
 *   consistent with each other (file names derived from the timestamp, one flag per disk).
 */

/** A raw XAPI record as XO stores it: its fields untouched, the uuid required. */
const xapiRecord = z.looseObject({ uuid: z.string() })
const xapiVm = z.looseObject({ uuid: z.string(), name_label: z.string() })
const byRef = <T extends z.ZodType>(value: T) => z.record(z.string(), value)
/** Job and schedule ids name folders (vdis/<jobId>/): a single path segment. */
const id = z
  .string()
  .min(1)
  .refine((value) => !/[/\\\0]/.test(value) && value !== '.' && value !== '..', 'must be usable as a folder name')

const commonShape = {
  version: z.literal('2.0.0'),
  jobId: id,
  scheduleId: id,
  /** Transfer start, ms since the epoch; the file name is its UTC YYYYMMDDTHHmmssZ. */
  timestamp: z.number().int().nonnegative(),
  vm: xapiVm,
  vmSnapshot: xapiVm,
  /** Bytes written. */
  size: z.number().int().nonnegative(),
  /** Long-term retention buckets this backup represents, e.g. "daily=2026-08-21". */
  tags: z.array(z.string()).optional(),
}

const fullShape = {
  ...commonShape,
  mode: z.literal('full'),
  /** The XVA, relative to the metadata file: "./<ts>.xva". */
  xva: z.string().min(1),
}

const deltaShape = {
  ...commonShape,
  mode: z.literal('delta'),
  /** One VHD per disk, relative to the VM directory: "vdis/<jobId>/<vdiUuid>/<ts>.vhd". */
  vhds: byRef(z.string().min(1)),
  /** True when that disk's VHD is a differencing disk. Older XO keyed it "<ref>.vhd". */
  isVhdDifferencing: byRef(z.boolean()),
  vdis: byRef(xapiRecord),
  vbds: byRef(xapiRecord),
  vifs: byRef(xapiRecord),
  vtpms: z.array(z.unknown()).optional(),
  includeNonNbdQcow2Fix: z.boolean().optional(),
}

export const fullBackupMetadataSchema = z.looseObject(fullShape)
export const deltaBackupMetadataSchema = z.looseObject(deltaShape)
/** Any backup metadata file, as read from a remote (ours or XO's). */
export const backupMetadataSchema = z.discriminatedUnion('mode', [fullBackupMetadataSchema, deltaBackupMetadataSchema])

export type FullBackupMetadata = z.infer<typeof fullBackupMetadataSchema>
export type DeltaBackupMetadata = z.infer<typeof deltaBackupMetadataSchema>
export type BackupMetadata = z.infer<typeof backupMetadataSchema>

export const newFullBackupMetadataSchema = z
  .strictObject(fullShape)
  .required({ tags: true })
  .superRefine((metadata, ctx) => {
    const expected = `./${formatFilenameDate(metadata.timestamp)}.xva`
    if (metadata.xva !== expected) {
      ctx.addIssue({ code: 'custom', path: ['xva'], message: `must be "${expected}" (derived from timestamp)` })
    }
  })

export const newDeltaBackupMetadataSchema = z
  .strictObject(deltaShape)
  .required({ tags: true, vtpms: true })
  .superRefine((metadata, ctx) => {
    const name = `${formatFilenameDate(metadata.timestamp)}.vhd`
    const pattern = /^vdis\/([^/]+)\/([0-9a-f-]{36})\/([^/]+)$/i
    for (const [ref, path] of Object.entries(metadata.vhds)) {
      const match = pattern.exec(path)
      if (match === null || match[1] !== metadata.jobId || match[3] !== name) {
        ctx.addIssue({
          code: 'custom',
          path: ['vhds', ref],
          message: `must be "vdis/${metadata.jobId}/<vdi uuid>/${name}" (job id and timestamp of this backup)`,
        })
      }
      if (!(ref in metadata.vdis))
        ctx.addIssue({ code: 'custom', path: ['vdis'], message: `has no VDI record for disk ${ref}` })
      if (!(ref in metadata.isVhdDifferencing)) {
        ctx.addIssue({ code: 'custom', path: ['isVhdDifferencing'], message: `says nothing about disk ${ref}` })
      }
    }
    for (const ref of Object.keys(metadata.isVhdDifferencing)) {
      if (!(ref in metadata.vhds))
        ctx.addIssue({ code: 'custom', path: ['isVhdDifferencing', ref], message: 'names no disk of vhds' })
    }
  })

export const newBackupMetadataSchema = z.union([newFullBackupMetadataSchema, newDeltaBackupMetadataSchema])

export type NewFullBackupMetadata = z.input<typeof newFullBackupMetadataSchema>
export type NewDeltaBackupMetadata = z.input<typeof newDeltaBackupMetadataSchema>
export type NewBackupMetadata = NewFullBackupMetadata | NewDeltaBackupMetadata

/** Fields XO adds when it reads a metadata file (and stores in its cache), never part of the file. */
export const READ_ONLY_FIELDS = ['_filename', 'id', 'isImmutable'] as const

export class MetadataError extends Error {
  override readonly name = 'MetadataError'
  readonly code = 'EINVALID'

  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`backup metadata "${path}" is not valid: ${reason}`)
  }
}

/** Parses a metadata file's text as XO reads it: tolerant of extra fields, fixing legacy booleans. */
export function parseBackupMetadata(path: string, text: string): BackupMetadata {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new MetadataError(path, `not JSON (${(error as Error).message})`)
  }
  const result = backupMetadataSchema.safeParse(convertLegacyBooleans(raw))
  if (!result.success) throw new MetadataError(path, describeIssues(result.error))
  const metadata = { ...result.data } as Record<string, unknown>
  for (const field of READ_ONLY_FIELDS) delete metadata[field]
  return metadata as BackupMetadata
}

/** Validates metadata xcp-backup is about to write; throws naming every wrong field. */
export function checkNewBackupMetadata(path: string, metadata: NewBackupMetadata): NewBackupMetadata {
  const schema = metadata.mode === 'full' ? newFullBackupMetadataSchema : newDeltaBackupMetadataSchema
  const result = schema.safeParse(metadata)
  if (!result.success) throw new MetadataError(path, describeIssues(result.error))
  return result.data
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length === 0 ? '(top level)' : `field ${issue.path.join('.')}`}: ${issue.message}`)
    .join('; ')
}

/**
 * Backups made on XenServer < 7.1 (JSON over XML-RPC) hold some booleans as 0/1; XO converts them on
 * read, signalled by a numeric `vm.is_a_template`. Same fields as XO's RemoteAdapter.
 */
const legacyBooleans: Record<string, string[]> = {
  vbds: ['bootable', 'unpluggable', 'storage_lock', 'empty', 'currently_attached'],
  vdis: [
    'sharable',
    'read_only',
    'storage_lock',
    'managed',
    'missing',
    'is_a_snapshot',
    'allow_caching',
    'metadata_latest',
  ],
  vifs: ['currently_attached', 'MAC_autogenerated'],
  vm: ['is_a_template', 'is_control_domain', 'ha_always_run', 'is_a_snapshot', 'is_snapshot_from_vmpp'],
  vmSnapshot: ['is_a_template', 'is_control_domain', 'ha_always_run', 'is_snapshot_from_vmpp'],
}

export function convertLegacyBooleans(raw: unknown): unknown {
  if (!isObject(raw) || !isObject(raw.vm) || typeof raw.vm.is_a_template !== 'number') return raw
  const converted: Record<string, unknown> = structuredClone(raw)
  const fix = (record: unknown, fields: string[]) => {
    if (!isObject(record)) return
    for (const field of fields) if (typeof record[field] === 'number') record[field] = record[field] === 1
  }
  for (const [key, fields] of Object.entries(legacyBooleans)) {
    const value = converted[key]
    if (!isObject(value)) continue
    // Collections are keyed by OpaqueRef; single records are not.
    if (Object.keys(value).some((k) => k.startsWith('OpaqueRef:')))
      for (const record of Object.values(value)) fix(record, fields)
    else fix(value, fields)
  }
  return converted
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
