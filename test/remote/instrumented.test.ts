import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RemoteOperationEvent } from '../../provider/remote/instrumented'
import { withRetries } from '../../provider/remote/instrumented'
import { openRemote } from '../../provider/remote/open-remote'
import { SmbBackend } from '../../provider/remote/smb/smb-backend'
import { type SambaServer, startSamba } from '../helpers/samba'

describe('retries around a real SMB server that restarts', () => {
  let samba: SambaServer
  beforeAll(async () => {
    samba = await startSamba()
  })
  afterAll(() => samba?.stop())

  it('idempotent operations wait for the server; a lock mkdir is never retried', async () => {
    const backend = await SmbBackend.connect(samba.location(), samba.password)
    const retries: RemoteOperationEvent[] = []
    const retrying = withRetries(backend, { delaysMs: [200, 500, 1000, 2000, 4000], onRetry: (e) => retries.push(e) })
    await retrying.save('before-restart.txt', [Buffer.from('kept')])

    const restarting = samba.restart(2500)
    await sleep(500)
    // mkdir is how locks are taken: retrying one that succeeded unseen would report a false lock.
    // The first call after the server went away finds the connection dead; later ones are refused.
    await expect(retrying.mkdir('x.lock')).rejects.toMatchObject({
      code: expect.stringMatching(/^(ECONNRESET|ECONNREFUSED)$/),
    })
    expect(retries).toEqual([])
    // stat is safe to repeat: it waits for the server to come back.
    const stats = await retrying.stat('before-restart.txt')
    expect(stats.size).toBe(4)
    await restarting
    expect(retries.length).toBeGreaterThan(0)
    expect(retries[0]).toMatchObject({ operation: 'stat', path: 'before-restart.txt', attempt: 1 })
    expect(retries.every((r) => /^(ECONNRESET|ECONNREFUSED)$/.test(r.error!.code))).toBe(true)
    await backend.close()
  })
})

describe('openRemote', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'xcp-open-remote-'))
  })
  afterAll(() => rm(root, { recursive: true, force: true }))

  it('opens a file remote with logging of every operation', async () => {
    const events: RemoteOperationEvent[] = []
    const remote = await openRemote({ type: 'file', path: root }, { name: 'local', log: (e) => events.push(e) })
    await remote.save('a.txt', [Buffer.from('hello')])
    await expect(remote.stat('missing')).rejects.toMatchObject({ code: 'ENOENT' })
    expect(events.map((e) => [e.operation, e.path, e.bytes, e.error?.code])).toEqual([
      ['save', 'a.txt', 5, undefined],
      ['stat', 'missing', undefined, 'ENOENT'],
    ])
    expect(events.every((e) => e.remote === 'local' && e.durationMs >= 0)).toBe(true)
  })

  it('says S3 is not supported yet, and that an SMB remote needs its password', async () => {
    await expect(
      openRemote({
        type: 's3',
        protocol: 'https',
        host: 's3.example',
        port: undefined,
        bucket: 'b',
        path: '',
        region: undefined,
      }),
    ).rejects.toMatchObject({
      code: 'EUNSUPPORTED',
      message: expect.stringContaining('S3 remotes are not supported yet'),
    })
    await expect(
      openRemote(
        { type: 'smb', host: 'h', port: undefined, share: 's', path: '', domain: undefined, username: 'u' },
        { name: 'office' },
      ),
    ).rejects.toThrow("SMB remote office has no password: set the remote's credentials")
  })
})
