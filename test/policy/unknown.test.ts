import { describe, expect, it } from 'vitest'
import { type BackupJobInput, checkPolicy, containsUnknown, normalizeBackupJob, UNKNOWN } from '../../provider/policy'

/** During `pulumi preview`, values that come from other resources' outputs arrive as this string. */
const U = UNKNOWN as never

const job: BackupJobInput = {
  name: 'nightly',
  mode: 'delta',
  vms: { select: 'smart', tags: ['prod'] },
  remotes: ['nas'],
  schedules: [{ name: 'nightly', cron: '0 2 * * *', exportRetention: 7 }],
}

function preview(input: unknown) {
  return checkPolicy('BackupJob', input, { unknowns: 'skip' })
}

describe('unknown values during preview', () => {
  it('is the placeholder string Pulumi sends', () => {
    expect(UNKNOWN).toBe('04da6b54-80e4-46f7-96ec-b56ff0331ba9')
    expect(containsUnknown({ a: [1, { b: UNKNOWN }] })).toBe(true)
    expect(containsUnknown({ a: [1, { b: 'x' }] })).toBe(false)
  })

  it.each([
    ['a number', { schedules: [{ name: 'n', cron: '0 2 * * *', exportRetention: U }] }],
    ['a string with a format', { schedules: [{ name: 'n', cron: U, exportRetention: 7 }] }],
    ['an enum', { mode: U }],
    ['a boolean', { settings: { offlineBackup: U } }],
    ['a list element', { remotes: [U, 'nas'] }],
    ['a whole list', { remotes: U }],
    ['a nested object', { settings: U }],
    ['a list of objects', { schedules: U }],
    ['an element of a list of objects', { schedules: [U] }],
    ['a union', { vms: U }],
    ['a union discriminator', { vms: { select: U, tags: ['prod'] } }],
    ['a transformed value', { settings: { maxExportRate: U } }],
    ['a defaulted value', { compression: U }],
    ['a record value', { settings: { healthCheck: { sr: U } } }],
  ])('skips the checks of %s and keeps it unknown', (_what, change) => {
    const result = preview({ ...job, ...change })
    expect(result).toMatchObject({ ok: true })
    if (result.ok) expect(containsUnknown(result.value)).toBe(true)
  })

  it('fills defaults and normalizes what is known', () => {
    const result = preview({
      ...job,
      remotes: ['nas-2', U, 'nas-1'],
      schedules: [{ name: 'n', cron: U, exportRetention: 7 }],
    })
    expect(result.ok).toBe(true)
    if (!result.ok || typeof result.value === 'string') return
    expect(result.value.remotes).toEqual(['nas-1', 'nas-2', UNKNOWN].sort())
    const schedule = (result.value.schedules as Record<string, unknown>[])[0]!
    expect(schedule).toMatchObject({ cron: UNKNOWN, timezone: 'UTC', enabled: true, exportRetention: 7 })
    expect(result.value.settings).toMatchObject({ concurrency: 2, maxExportRate: 0 })
  })

  it('still reports known fields that are wrong, and only those', () => {
    const result = preview({
      ...job,
      mode: U,
      compression: 'lz4',
      schedules: [{ name: 'n', cron: '0 2 * *', exportRetention: U }],
    })
    expect(result).toEqual({
      ok: false,
      failures: [
        { property: 'compression', reason: '"lz4" is not allowed: expected "none", "gzip" or "zstd"' },
        { property: 'schedules[0].cron', reason: expect.stringMatching(/expected 5 fields/) },
      ],
    })
  })

  it('still reports unknown keys and known contradictions next to unknown fields', () => {
    expect(preview({ ...job, pool: U, comprssion: 'zstd' })).toEqual({
      ok: false,
      failures: [{ property: 'comprssion', reason: 'unknown property "comprssion": did you mean "compression"?' }],
    })
    const contradiction = preview({
      ...job,
      remotes: [U],
      schedules: [{ name: 'n', cron: U, exportRetention: 7, snapshotRetention: 2 }],
      settings: { offlineBackup: true, concurrency: U },
    })
    expect(contradiction).toEqual({
      ok: false,
      failures: [{ property: 'schedules[0].snapshotRetention', reason: expect.stringMatching(/offlineBackup/) }],
    })
  })

  it('skips a rule when a value it reads is unknown', () => {
    // Would be "compression applies to full exports only" if the mode were known to be delta.
    expect(preview({ ...job, mode: U, compression: 'zstd' }).ok).toBe(true)
    // Would be "offlineBackup keeps no snapshot" if offlineBackup were known to be true.
    expect(
      preview({ ...job, settings: { offlineBackup: U }, schedules: [{ ...job.schedules[0], snapshotRetention: 2 }] })
        .ok,
    ).toBe(true)
    // Would be "exportRetention keeps backups on remotes, but the job lists no remotes" if they were known empty.
    expect(preview({ ...job, remotes: U }).ok).toBe(true)
    expect(checkPolicy('BackupJob', { ...job, remotes: [] }).ok).toBe(false)
    // Would be "no schedule has exportRetention > 0" if the retention were known.
    expect(preview({ ...job, schedules: [{ name: 'n', cron: '0 2 * * *', exportRetention: U }] }).ok).toBe(true)
    // Two unknown schedule names are not a duplicate.
    const twoUnknownNames = [
      { name: U, cron: '0 2 * * *', exportRetention: 1 },
      { name: U, cron: '0 3 * * *', exportRetention: 1 },
    ]
    expect(preview({ ...job, schedules: twoUnknownNames }).ok).toBe(true)
    // Two unknown remotes are not listed twice.
    expect(preview({ ...job, remotes: [U, U] }).ok).toBe(true)
  })

  it('keeps the rules that do not read the unknown value', () => {
    const result = preview({ ...job, pool: U, mode: 'delta', compression: 'gzip' })
    expect(result).toEqual({
      ok: false,
      failures: [{ property: 'compression', reason: expect.stringMatching(/^compression applies to full/) }],
    })
  })

  it('treats the placeholder as an ordinary value outside preview', () => {
    const result = checkPolicy('BackupJob', { ...job, schedules: [{ name: 'n', cron: U, exportRetention: U }] })
    expect(result).toEqual({
      ok: false,
      failures: [
        { property: 'schedules[0].cron', reason: expect.stringMatching(/is not a valid cron expression/) },
        { property: 'schedules[0].exportRetention', reason: 'expected a number, got a string' },
      ],
    })
  })

  it('works for every kind', () => {
    expect(checkPolicy('Remote', { name: U, url: U, credentials: U }, { unknowns: 'skip' }).ok).toBe(true)
    expect(
      checkPolicy('Remote', { name: 'x', url: 'smb://u@h/s', credentials: { password: U } }, { unknowns: 'skip' }).ok,
    ).toBe(true)
    expect(checkPolicy('Remote', { name: 'x', url: U, options: { mountOptions: 'x' } }, { unknowns: 'skip' }).ok).toBe(
      true,
    )
    expect(checkPolicy('ReplicationTarget', { name: 'dr', sr: U, pool: U }, { unknowns: 'skip' }).ok).toBe(true)
    expect(checkPolicy('VmBackupTags', { vms: [U], tags: U }, { unknowns: 'skip' }).ok).toBe(true)
    expect(checkPolicy('VmBackupTags', { vms: U, tags: [] }, { unknowns: 'skip' })).toEqual({
      ok: false,
      failures: [{ property: 'tags', reason: 'must list at least one entry' }],
    })
  })

  it('normalizes a spec whose lists are unknown without touching them', () => {
    const parsed = checkPolicy('BackupJob', job)
    if (!parsed.ok) throw new Error('the job is valid')
    const spec = { ...parsed.value, remotes: U, schedules: U, vms: { ...parsed.value.vms, tags: U } }
    expect(normalizeBackupJob(spec)).toMatchObject({ remotes: UNKNOWN, schedules: UNKNOWN, vms: { tags: UNKNOWN } })
  })
})
