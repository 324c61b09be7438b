import { describe, expect, it } from 'vitest'
import { formatRemoteUrl, parseRemoteUrl, type RemoteLocation, remoteUrlSchema } from '../../provider/policy/remote-url'

describe('parseRemoteUrl', () => {
  const cases: [string, RemoteLocation][] = [
    ['file:///var/lib/backups/', { type: 'file', path: '/var/lib/backups' }],
    ['nfs://nas.lan:/export/xo', { type: 'nfs', host: 'nas.lan', port: undefined, exportPath: '/export/xo' }],
    ['nfs://10.0.0.5:2049:/export/xo/sub', { type: 'nfs', host: '10.0.0.5', port: 2049, exportPath: '/export/xo/sub' }],
    [
      'smb://backup@fileserver/vms/xcp',
      {
        type: 'smb',
        host: 'fileserver',
        port: undefined,
        share: 'vms',
        path: '/xcp',
        domain: undefined,
        username: 'backup',
      },
    ],
    [
      'smb://CORP;svc%20backup@127.0.0.1:4455/share',
      { type: 'smb', host: '127.0.0.1', port: 4455, share: 'share', path: '', domain: 'CORP', username: 'svc backup' },
    ],
    [
      's3://s3.eu-west-1.amazonaws.com/my-bucket/xcp/prod?region=eu-west-1',
      {
        type: 's3',
        protocol: 'https',
        host: 's3.eu-west-1.amazonaws.com',
        port: undefined,
        bucket: 'my-bucket',
        path: '/xcp/prod',
        region: 'eu-west-1',
      },
    ],
    [
      's3+http://127.0.0.1:9000/backups',
      { type: 's3', protocol: 'http', host: '127.0.0.1', port: 9000, bucket: 'backups', path: '', region: undefined },
    ],
  ]

  it.each(cases)('parses %s', (url, expected) => {
    expect(parseRemoteUrl(url)).toEqual(expected)
  })

  it.each(cases)('formats %s back to an equivalent URL', (url, expected) => {
    expect(parseRemoteUrl(formatRemoteUrl(expected))).toEqual(expected)
    expect(formatRemoteUrl(parseRemoteUrl(url))).toBe(formatRemoteUrl(expected))
  })

  it.each([
    ['/var/backups', /has no scheme/],
    ['ftp://host/x', /"ftp:\/\/" is not supported/],
    ['file://relative/path', /absolute path/],
    ['nfs://nas.lan/export', /nfs:\/\/host:\/export\/path/],
    ['nfs://nas:99999:/export', /invalid port "99999"/],
    ['smb://host/share', /needs a user name/],
    ['smb://user@host', /names no share/],
    ['s3://host', /names no bucket/],
    ['s3://host/bucket?useVhdDirectory=true', /unknown option "useVhdDirectory"/],
    ['file:///backups/../etc', /must not contain "\.\."/],
  ])('rejects %s with a message saying what is wrong', (url, message) => {
    expect(() => parseRemoteUrl(url)).toThrow(message)
  })

  it('refuses passwords in URLs and never echoes them', () => {
    for (const url of ['smb://user:S3cr%2Ft@host/share', 's3://AKIA:very/secret@host/bucket', 'smb://u:p/w@d@host/s']) {
      let message = ''
      try {
        parseRemoteUrl(url)
      } catch (error) {
        message = (error as Error).message
      }
      expect(message).toMatch(/must not (contain a password|carry credentials)|is not of the form/)
      expect(message).not.toMatch(/S3cr|very\/secret|p\/w/)
    }
  })

  it('reports problems as zod issues on the field', () => {
    const result = remoteUrlSchema.safeParse('smb://host/share')
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.message).toMatch(/needs a user name/)
  })
})
