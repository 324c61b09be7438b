import { describe, expect, it } from 'vitest'
import { type CheckFailure, checkPolicy, parsePolicy, toStoredRemote } from '../../provider/policy'

function failures(input: unknown): CheckFailure[] {
  const result = checkPolicy('Remote', input)
  if (result.ok) throw new Error('expected the remote to be refused')
  return result.failures
}

describe('Remote', () => {
  it('accepts each URL type with the credentials it needs, fills defaults and spells the URL one way', () => {
    expect(parsePolicy('Remote', { name: 'local', url: 'file:///var/backups/' })).toEqual({
      name: 'local',
      url: 'file:///var/backups',
      options: {},
      enabled: true,
    })
    expect(
      parsePolicy('Remote', {
        name: 'nas',
        url: 'nfs://nas.lan:/export/xcp',
        options: { mountOptions: 'vers=4.1,hard' },
        enabled: false,
        pool: 'prod',
      }),
    ).toEqual({
      name: 'nas',
      url: 'nfs://nas.lan:/export/xcp',
      options: { mountOptions: 'vers=4.1,hard' },
      enabled: false,
      pool: 'prod',
    })
    expect(
      parsePolicy('Remote', {
        name: 'windows share',
        url: 'smb://CORP;backup@fileserver/vms/xcp',
        credentials: { password: 'S3cret!' },
      }).credentials,
    ).toEqual({ password: 'S3cret!' })
    const s3 = parsePolicy('Remote', {
      name: 'minio',
      url: 's3+http://127.0.0.1:9000/backups//prod/',
      options: { forcePathStyle: 'true', allowUnauthorized: 'false' },
      credentials: { accessKeyId: 'AKIA', secretAccessKey: 'wJalr' },
    })
    expect(s3.url).toBe('s3+http://127.0.0.1:9000/backups/prod')
    expect(Object.keys(s3.options)).toEqual(['allowUnauthorized', 'forcePathStyle'])
  })

  it('reports URL problems at url, with the parser message', () => {
    expect(failures({ name: 'x', url: 'ftp://host/x' })).toEqual([
      {
        property: 'url',
        reason: expect.stringMatching(
          /^remote URL scheme "ftp:\/\/" is not supported: expected one of file:\/\/\/path/,
        ),
      },
    ])
    expect(failures({ name: 'x', url: 'nfs://nas/export' })[0]?.property).toBe('url')
  })

  it('asks for exactly the credentials a URL type uses', () => {
    expect(failures({ name: 'x', url: 'smb://u@h/s' })).toEqual([
      { property: 'credentials', reason: 'smb:// remotes need credentials.password' },
    ])
    expect(failures({ name: 'x', url: 's3://h/b', credentials: { accessKeyId: 'a' } })).toEqual([
      {
        property: 'credentials.secretAccessKey',
        reason: 's3:// remotes need credentials.secretAccessKey (they take "accessKeyId" and "secretAccessKey")',
      },
    ])
    expect(failures({ name: 'x', url: 'nfs://h:/e', credentials: { password: 'p' } })).toEqual([
      { property: 'credentials.password', reason: 'nfs:// remotes take no credentials: remove credentials' },
    ])
    expect(failures({ name: 'x', url: 'smb://u@h/s', credentials: { password: 'p', secretAccessKey: 'k' } })).toEqual([
      {
        property: 'credentials.secretAccessKey',
        reason: 'smb:// remotes do not use secretAccessKey: they take "password"',
      },
    ])
    expect(failures({ name: 'x', url: 'smb://u@h/s', credentials: { pasword: 'p' } })).toContainEqual({
      property: 'credentials.pasword',
      reason: 'unknown property "pasword": did you mean "password"?',
    })
  })

  it('accepts only the options its type honours', () => {
    expect(failures({ name: 'x', url: 'file:///b', options: { mountOptions: 'ro' } })).toEqual([
      { property: 'options.mountOptions', reason: 'file:// remotes take no options' },
    ])
    expect(failures({ name: 'x', url: 'nfs://h:/e', options: { mountOpts: 'ro' } })).toEqual([
      { property: 'options.mountOpts', reason: 'nfs:// remotes have no option "mountOpts": expected "mountOptions"' },
    ])
    expect(
      failures({
        name: 'x',
        url: 's3://h/b',
        credentials: { accessKeyId: 'a', secretAccessKey: 's' },
        options: { forcePathStyle: 'yes' },
      }),
    ).toEqual([{ property: 'options.forcePathStyle', reason: 'must be "true" or "false"' }])
    expect(failures({ name: 'x', url: 'file:///b', options: { 'mount options': 1 } })).toEqual([
      { property: 'options["mount options"]', reason: 'expected a string, got a number' },
    ])
  })

  it('never repeats a secret in a failure', () => {
    const secret = 'hunter2-very-secret'
    const reports = [
      failures({ name: 'x', url: `smb://user:${secret}@host/share`, credentials: { password: secret } }),
      failures({ name: 'x', url: 'nfs://h:/e', credentials: { password: secret } }),
      failures({ name: 'x', url: 's3://h/b', credentials: { accessKeyId: secret, secretAccessKey: 5 } }),
      failures({ name: 'x', url: 'smb://u@h/s', credentials: { password: secret, pasword: secret } }),
    ]
    for (const report of reports) {
      expect(report.length).toBeGreaterThan(0)
      expect(JSON.stringify(report)).not.toContain(secret)
    }
  })

  it('is stored without its credentials, with the XAPI secret that holds them', () => {
    const remote = parsePolicy('Remote', { name: 'x', url: 'smb://u@h/s', credentials: { password: 'p' } })
    const stored = toStoredRemote(remote, '6b7a8b4e-0f7e-4d55-9a61-0c0a1b2c3d4e')
    expect(stored).toEqual({
      name: 'x',
      url: 'smb://u@h/s',
      options: {},
      enabled: true,
      credentialsSecret: '6b7a8b4e-0f7e-4d55-9a61-0c0a1b2c3d4e',
    })
    expect(JSON.stringify(stored)).not.toContain('"p"')
  })

  it('refuses unknown keys with a suggestion', () => {
    expect(failures({ name: 'x', url: 'file:///b', enabeld: true })).toEqual([
      { property: 'enabeld', reason: 'unknown property "enabeld": did you mean "enabled"?' },
    ])
  })
})

describe('ReplicationTarget', () => {
  it('takes an SR by name or uuid, optionally in another pool', () => {
    expect(parsePolicy('ReplicationTarget', { name: 'dr-site', sr: 'DR storage', pool: 'dr' })).toEqual({
      name: 'dr-site',
      sr: 'DR storage',
      pool: 'dr',
    })
    expect(checkPolicy('ReplicationTarget', { name: 'dr', sr: '' })).toEqual({
      ok: false,
      failures: [{ property: 'sr', reason: 'must not be empty' }],
    })
    expect(checkPolicy('ReplicationTarget', { name: 'dr', sr: 'x', srUuid: 'y' })).toEqual({
      ok: false,
      failures: [{ property: 'srUuid', reason: 'unknown property "srUuid": expected "name", "sr" or "pool"' }],
    })
  })
})

describe('VmBackupTags', () => {
  it('accepts modifier tags and plain tags, sorted', () => {
    expect(
      parsePolicy('VmBackupTags', { vms: ['db-2', 'db-1'], tags: ['xo-memory-backup', 'backup:nightly'] }),
    ).toEqual({ vms: ['db-1', 'db-2'], tags: ['backup:nightly', 'xo-memory-backup'] })
    expect(parsePolicy('VmBackupTags', { vms: ['scratch'], tags: ['xo:no-bak=rebuilt nightly'] }).tags).toEqual([
      'xo:no-bak=rebuilt nightly',
    ])
  })

  it('refuses contradictory and repeated tags, and empty lists', () => {
    expect(checkPolicy('VmBackupTags', { vms: ['a'], tags: ['xo-memory-backup', 'xo-offline-backup'] })).toEqual({
      ok: false,
      failures: [
        {
          property: 'tags[0]',
          reason:
            '"xo-memory-backup" saves the RAM of a running VM, but "xo-offline-backup" shuts the VM down first: keep one of them',
        },
      ],
    })
    expect(checkPolicy('VmBackupTags', { vms: ['a'], tags: ['xo:no-bak', 'xo:no-bak=old'] })).toEqual({
      ok: false,
      failures: [{ property: 'tags[1]', reason: 'xo:no-bak is given twice ("xo:no-bak", "xo:no-bak=old"): keep one' }],
    })
    expect(checkPolicy('VmBackupTags', { vms: [], tags: ['a', 'a'] })).toEqual({
      ok: false,
      failures: [
        { property: 'vms', reason: 'must list at least one entry' },
        { property: 'tags[1]', reason: '"a" is listed twice in tags' },
      ],
    })
  })
})
