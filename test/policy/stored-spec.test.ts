import { describe, expect, it } from 'vitest'
import {
  decodeStoredSpec,
  encodeStoredSpec,
  parsePolicy,
  SPEC_FORMATS,
  type SpecFormat,
  StoredSpecError,
  toStoredRemote,
} from '../../provider/policy'

const job = parsePolicy('BackupJob', {
  name: 'nightly',
  mode: 'delta',
  vms: { select: 'smart', tags: ['prod'] },
  remotes: ['nas'],
  schedules: [{ name: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Paris', exportRetention: 14 }],
})

function errorOf(run: () => unknown): StoredSpecError {
  try {
    run()
  } catch (error) {
    if (error instanceof StoredSpecError) return error
    throw error
  }
  throw new Error('expected a StoredSpecError')
}

describe('stored spec envelope', () => {
  it('round-trips every kind', () => {
    const remote = toStoredRemote(
      parsePolicy('Remote', { name: 'nas', url: 'smb://u@h/s', credentials: { password: 'p' } }),
      '6b7a8b4e-0f7e-4d55-9a61-0c0a1b2c3d4e',
    )
    const target = parsePolicy('ReplicationTarget', { name: 'dr', sr: 'DR storage' })
    const tags = parsePolicy('VmBackupTags', { vms: ['db-1'], tags: ['xo-memory-backup'] })
    expect(decodeStoredSpec(encodeStoredSpec('BackupJob', job))).toEqual({ kind: 'BackupJob', version: 1, spec: job })
    expect(decodeStoredSpec(encodeStoredSpec('Remote', remote)).spec).toEqual(remote)
    expect(decodeStoredSpec(encodeStoredSpec('ReplicationTarget', target)).spec).toEqual(target)
    expect(decodeStoredSpec(encodeStoredSpec('VmBackupTags', tags), { kind: 'VmBackupTags' }).spec).toEqual(tags)
  })

  it('writes a {kind, version, spec} envelope of canonical JSON: equal policies, equal bytes', () => {
    const text = encodeStoredSpec('BackupJob', job)
    expect(Object.keys(JSON.parse(text))).toEqual(['kind', 'version', 'spec'])
    const reordered = parsePolicy('BackupJob', { ...job, remotes: ['nas'], settings: { ...job.settings } })
    expect(encodeStoredSpec('BackupJob', reordered)).toBe(text)
    expect(encodeStoredSpec('BackupJob', decodeStoredSpec(text, { kind: 'BackupJob' }).spec)).toBe(text)
  })

  it('never stores credentials', () => {
    const remote = parsePolicy('Remote', { name: 'nas', url: 'smb://u@h/s', credentials: { password: 'hunter2' } })
    const error = errorOf(() => encodeStoredSpec('Remote', remote as never))
    expect(error.code).toBe('STORED_SPEC_INVALID')
    expect(error.message).toBe(
      'Remote spec to store is invalid: credentials: unknown property "credentials": expected "name", "url", "options", "enabled", "pool" or "credentialsSecret"',
    )
    expect(error.message).not.toContain('hunter2')
  })

  it('refuses a spec written by a newer xcp-backup with a message to upgrade', () => {
    const newer = JSON.stringify({ kind: 'BackupJob', version: 2, spec: job, writtenWith: 'a new field' })
    const error = errorOf(() => decodeStoredSpec(newer))
    expect(error.code).toBe('STORED_SPEC_NEWER')
    expect(error.message).toBe(
      'stored BackupJob spec was written by a newer xcp-backup (v2); this one reads up to v1: upgrade xcp-backup',
    )
  })

  it('migrates older versions step by step, and refuses those it has no migration for', () => {
    const formats = {
      ...SPEC_FORMATS,
      ReplicationTarget: {
        version: 3,
        migrations: {
          1: (spec: unknown) => ({ ...(spec as object), sr: (spec as { srName: string }).srName, srName: undefined }),
          2: (spec: unknown) => JSON.parse(JSON.stringify(spec)),
        },
      },
    }
    const v1 = JSON.stringify({ kind: 'ReplicationTarget', version: 1, spec: { name: 'dr', srName: 'DR storage' } })
    expect(decodeStoredSpec(v1, { formats })).toEqual({
      kind: 'ReplicationTarget',
      version: 3,
      spec: { name: 'dr', sr: 'DR storage' },
    })
    const withoutPath = { ...formats, ReplicationTarget: { version: 3, migrations: { 2: (spec: unknown) => spec } } }
    const typed: Record<string, SpecFormat> = withoutPath
    expect(typed.ReplicationTarget?.version).toBe(3)
    const error = errorOf(() => decodeStoredSpec(v1, { formats: withoutPath }))
    expect(error.code).toBe('STORED_SPEC_UNSUPPORTED')
    expect(error.message).toMatch(/is v1, which this xcp-backup can no longer read \(no migration from v1\)/)
  })

  it.each([
    ['not JSON', '{kind:', 'STORED_SPEC_UNREADABLE', /^stored spec is not JSON \(/],
    ['an array', '[]', 'STORED_SPEC_UNREADABLE', /^stored spec is not a \{kind, version, spec\} object$/],
    [
      'an unknown kind',
      '{"kind":"Backup","version":1,"spec":{}}',
      'STORED_SPEC_UNREADABLE',
      /^stored spec has kind "Backup": expected "Remote", "BackupJob", "ReplicationTarget" or "VmBackupTags"$/,
    ],
    ['no version', '{"kind":"Remote","spec":{}}', 'STORED_SPEC_UNREADABLE', /has no valid version/],
    ['version 0', '{"kind":"Remote","version":0,"spec":{}}', 'STORED_SPEC_UNREADABLE', /has no valid version/],
    [
      'extra envelope keys',
      '{"kind":"ReplicationTarget","version":1,"spec":{"name":"a","sr":"b"},"x":1}',
      'STORED_SPEC_UNREADABLE',
      /unexpected keys "x" next to kind, version and spec/,
    ],
    [
      'an invalid spec',
      '{"kind":"ReplicationTarget","version":1,"spec":{"name":"a"}}',
      'STORED_SPEC_INVALID',
      /^stored ReplicationTarget spec is invalid: sr: is required: expected a string$/,
    ],
  ])('refuses %s', (_what, text, code, message) => {
    const error = errorOf(() => decodeStoredSpec(text))
    expect(error.code).toBe(code)
    expect(error.message).toMatch(message)
  })

  it('refuses another kind than expected', () => {
    const error = errorOf(() => decodeStoredSpec(encodeStoredSpec('BackupJob', job), { kind: 'Remote' }))
    expect(error.code).toBe('STORED_SPEC_WRONG_KIND')
    expect(error.message).toBe('stored spec is a BackupJob, expected a Remote')
  })

  it('normalizes what it reads (a hand-edited spec in another order)', () => {
    const edited = { ...job, remotes: ['z', 'a'], schedules: [...job.schedules, { ...job.schedules[0]!, name: 'a' }] }
    const decoded = decodeStoredSpec(JSON.stringify({ kind: 'BackupJob', version: 1, spec: edited }), {
      kind: 'BackupJob',
    })
    expect(decoded.spec.remotes).toEqual(['a', 'z'])
    expect(decoded.spec.schedules.map((schedule) => schedule.name)).toEqual(['a', 'nightly'])
  })
})
