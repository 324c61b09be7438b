import { describe, expect, it } from 'vitest'
import { nameBasedUuid } from '../../provider/common/uuid'
import { ID_NAMESPACES, idForName } from '../../provider/pool/store-ids'
import { readProviderConfig } from '../../provider/resources/config'

const PASSWORD = 'pool-pass-V8n2'

function fromConfig(pools: unknown, env: NodeJS.ProcessEnv = {}) {
  return readProviderConfig((key) => (key === 'xcp-backup:pools' ? JSON.stringify(pools) : undefined), env)
}

describe('provider configuration', () => {
  it('reads pools from xcp-backup:pools; a single pool is the default', () => {
    const config = fromConfig({ main: { url: 'https://xcp-a.lan', password: PASSWORD } })
    expect(config.defaultPool).toBe('main')
    expect(config.pools.get('main')).toEqual({
      name: 'main',
      url: 'https://xcp-a.lan',
      user: 'root',
      password: PASSWORD,
      allowUnauthorized: false,
    })
  })

  it('with several pools, the one marked default (true or "true") is the default, else none', () => {
    const pools = {
      main: { url: 'https://a', password: 'x1', default: 'true' },
      dr: { url: 'https://b', user: 'backup', password: 'x2' },
    }
    expect(fromConfig(pools).defaultPool).toBe('main')
    expect(fromConfig({ ...pools, main: { ...pools.main, default: false } }).defaultPool).toBeUndefined()
  })

  it('names every problem by its config path and never quotes a value', () => {
    const attempt = () =>
      fromConfig({
        main: { url: 'https://a', pasword: PASSWORD },
        'bad name': { url: 'https://b', password: 'x' },
        dr: { url: '', password: 'x', default: 'yes' },
      })
    expect(attempt).toThrow(
      [
        "xcp-backup:pools.main.password: is required: pulumi config set --secret --path 'xcp-backup:pools.main.password' <password>",
        'xcp-backup:pools.main.pasword: unknown setting (expected url, user, password, default, allowUnauthorized)',
        'xcp-backup:pools.bad name: a pool name is 1 to 64 letters, digits, ".", "_" or "-"',
        "xcp-backup:pools.dr.url: is required: the pool master's URL, e.g. https://xcp-master.lan",
        'xcp-backup:pools.dr.default: must be true or false',
      ].join('; '),
    )
    expect(attempt).not.toThrow(new RegExp(PASSWORD))
  })

  it('refuses two default pools', () => {
    expect(() =>
      fromConfig({ a: { url: 'u', password: 'p', default: true }, b: { url: 'u', password: 'p', default: true } }),
    ).toThrow('xcp-backup:pools: "a" and "b" are all marked default: keep default: true on one')
  })

  it('falls back to XCP_BACKUP_URL, XCP_BACKUP_USER and XCP_BACKUP_PASSWORD for one pool named default', () => {
    const config = readProviderConfig(() => undefined, {
      XCP_BACKUP_URL: 'http://127.0.0.1:8480',
      XCP_BACKUP_PASSWORD: PASSWORD,
    })
    expect(config).toMatchObject({ defaultPool: 'default', source: 'environment' })
    expect(config.pools.get('default')).toMatchObject({
      url: 'http://127.0.0.1:8480',
      user: 'root',
      password: PASSWORD,
    })
    expect(() => readProviderConfig(() => undefined, { XCP_BACKUP_URL: 'http://x' })).toThrow(
      'XCP_BACKUP_URL is set but XCP_BACKUP_PASSWORD is not',
    )
    expect(() => readProviderConfig(() => undefined, {})).toThrow(/^no pool is configured: set xcp-backup:pools/)
  })

  it('prefers the stack config over the environment', () => {
    const config = fromConfig(
      { main: { url: 'https://a', password: 'p' } },
      { XCP_BACKUP_URL: 'http://env', XCP_BACKUP_PASSWORD: 'q' },
    )
    expect([...config.pools.keys()]).toEqual(['main'])
  })
})

describe('store ids', () => {
  it('are name-based UUIDs (version 5), as RFC 9562 computes them', () => {
    // RFC 9562 appendix A.4: the DNS namespace and "www.example.com".
    expect(nameBasedUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    )
  })

  it('are one per kind and name, case-sensitive, and never change', () => {
    expect(new Set(Object.values(ID_NAMESPACES)).size).toBe(3)
    expect(idForName('BackupJob', 'nightly')).toBe(idForName('BackupJob', 'nightly'))
    expect(idForName('BackupJob', 'nightly')).not.toBe(idForName('Remote', 'nightly'))
    expect(idForName('BackupJob', 'nightly')).not.toBe(idForName('BackupJob', 'Nightly'))
    expect(idForName('BackupJob', 'nightly')).toBe(nameBasedUuid('e0c3b095-1d0b-44ed-b2ce-d3163cb744bc', 'nightly'))
    expect(idForName('Remote', 'weekly full')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
  })
})
