/**
 * Errors for disk formats (VHD, XVA). Every error says which field or entry is wrong, at which byte,
 * what was expected and found, what that means for a backup, and what to do about it.
 */
export interface DiskFormatErrorDetails<Code extends string> {
  code: Code
  /** What is wrong, in one sentence, without the advice. */
  problem: string
  /** What it means for the backup and what to do. */
  advice: string
  /** Byte offset in the file or stream (for compressed XVA: in the decompressed tar). */
  offset?: number
  /** The structure field or tar entry concerned, e.g. `footer.checksum`, `bat[12]`, `Ref:3/00000012.xxhash`. */
  field?: string
  expected?: unknown
  actual?: unknown
  /** Name of the file or stream, when the caller gave one. */
  source?: string
}

export class DiskFormatError<Code extends string = string> extends Error {
  readonly code: Code
  readonly offset: number | undefined
  readonly field: string | undefined
  readonly expected: unknown
  readonly actual: unknown
  readonly source: string | undefined
  readonly problem: string

  constructor(details: DiskFormatErrorDetails<Code>) {
    super(formatMessage(details))
    this.name = new.target.name
    this.code = details.code
    this.offset = details.offset
    this.field = details.field
    this.expected = details.expected
    this.actual = details.actual
    this.source = details.source
    this.problem = details.problem
  }
}

function formatMessage(d: DiskFormatErrorDetails<string>): string {
  const where: string[] = []
  if (d.field !== undefined) where.push(d.field)
  if (d.offset !== undefined) where.push(`at byte ${d.offset}`)
  const facts: string[] = []
  if (d.expected !== undefined) facts.push(`expected ${show(d.expected)}`)
  if (d.actual !== undefined) facts.push(`found ${show(d.actual)}`)
  const detail = [where.join(' '), facts.join(', ')].filter(Boolean).join(': ')
  const prefix = d.source === undefined ? '' : `${d.source}: `
  return `${prefix}${d.problem}${detail ? ` (${detail})` : ''}. ${d.advice}`
}

function show(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'bigint') return value.toString()
  if (Buffer.isBuffer(value)) return `0x${value.toString('hex')}`
  return String(value)
}
