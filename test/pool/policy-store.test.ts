import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Xapi } from 'xen-api'
import { connectPool, PoolConnectionError } from '../../provider/pool/connection'
import { entriesOf, PolicyStore, storeKey } from '../../provider/pool/policy-store'
import { createSecret, destroySecret, listOwnedSecrets, readSecret } from '../../provider/pool/secrets'
import { type RunningSimulator, startSimulator } from '../../simulator'

let sim: RunningSimulator
let xapi: Xapi

beforeAll(async () => {
  sim = await startSimulator()
  xapi = await connectPool({ name: 'sim', url: sim.url, user: 'root', password: sim.password })
})

afterAll(async () => {
  await xapi?.disconnect()
  await sim?.close()
})

describe('pool connection', () => {
  it('names the pool and never shows the password when the credentials are wrong', async () => {
    const error = await connectPool({ name: 'lab', url: sim.url, user: 'root', password: 'wrong-pw-123' }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PoolConnectionError)
    expect((error as PoolConnectionError).code).toBe('SESSION_AUTHENTICATION_FAILED')
    expect((error as Error).message).toMatch(/pool "lab".*refused user "root"/)
    expect((error as Error).message).not.toContain('wrong-pw-123')
  })

  it('says when the pool master is unreachable', async () => {
    const error = await connectPool({ name: 'gone', url: 'http://127.0.0.1:9', user: 'root', password: 'x' }).catch(
      (e: unknown) => e,
    )
    expect((error as PoolConnectionError).code).toBe('ECONNREFUSED')
    expect((error as Error).message).toMatch(/pool "gone".*unreachable/)
  })
})

describe('policy store', () => {
  it('stores, replaces, lists and removes specs under xcp-backup: keys', async () => {
    const store = new PolicyStore(xapi)
    await store.put('BackupJob', 'job-1', '{"v":1}')
    expect(await store.get('BackupJob', 'job-1')).toBe('{"v":1}')
    await store.put('BackupJob', 'job-1', '{"v":2}')
    expect(await store.get('BackupJob', 'job-1')).toBe('{"v":2}')
    await store.put('Remote', 'r-1', '{"url":"file:///x"}')
    expect((await store.list()).map((e) => `${e.kind}/${e.id}`)).toEqual(['BackupJob/job-1', 'Remote/r-1'])
    expect((await store.list('Remote')).map((e) => e.id)).toEqual(['r-1'])
    const otherConfig = await xapi.call<Record<string, string>>('pool.get_other_config', xapi.pool.$ref)
    expect(otherConfig['xcp-backup:backup-job:job-1']).toBe('{"v":2}')
    expect(Object.keys(otherConfig).some((key) => key.endsWith('~next'))).toBe(false)
    await store.remove('BackupJob', 'job-1')
    await store.remove('BackupJob', 'job-1')
    expect(await store.get('BackupJob', 'job-1')).toBeUndefined()
  })

  it('reads the new value at every step of a replace that stops half-way', () => {
    const key = storeKey('BackupJob', 'j')
    // The states a crash can leave, in write order: old only; old + next; next only; new + next.
    expect(entriesOf({ [key]: 'old' })[0]?.value).toBe('old')
    expect(entriesOf({ [key]: 'old', [`${key}~next`]: 'new' })[0]?.value).toBe('new')
    expect(entriesOf({ [`${key}~next`]: 'new' })[0]?.value).toBe('new')
    expect(entriesOf({ [key]: 'new', [`${key}~next`]: 'new' })).toHaveLength(1)
  })

  it('refuses ids that would break the key format', () => {
    expect(() => storeKey('Remote', 'a:b')).toThrow(/invalid Remote id/)
  })
})

describe('secrets', () => {
  it('creates, reads, lists and destroys owned secrets', async () => {
    const uuid = await createSecret(xapi, 's3cr3t-value', 'remote:r-1')
    expect(await readSecret(xapi, uuid)).toBe('s3cr3t-value')
    expect(await listOwnedSecrets(xapi)).toContainEqual({ uuid, owner: 'remote:r-1' })
    await destroySecret(xapi, uuid)
    await destroySecret(xapi, uuid)
    await expect(readSecret(xapi, uuid)).rejects.toMatchObject({ code: 'UUID_INVALID' })
  })
})
