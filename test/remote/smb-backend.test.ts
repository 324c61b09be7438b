import { describe, expect, it } from 'vitest'
import { SmbBackend } from '../../provider/remote/smb/smb-backend'
import { startSamba } from '../helpers/samba'
import { chunked, describeBackendContract, expectSameBytes, patterned, readAll } from './backend-contract'

describeBackendContract('smb', async () => {
  const samba = await startSamba()
  const backend = await SmbBackend.connect(samba.location(), samba.password).catch(async (error: unknown) => {
    await samba.stop()
    throw error
  })
  return {
    backend,
    localDir: samba.shareDir,
    cleanup: async () => {
      await backend.close()
      await samba.stop()
    },
  }
})

describe('SMB backends in one process', () => {
  it('several connections work side by side (libsmbclient calls are serialised process-wide)', async () => {
    const samba = await startSamba()
    try {
      const backends = await Promise.all([0, 1, 2].map(() => SmbBackend.connect(samba.location(), samba.password)))
      const data = backends.map((_, i) => patterned(6 * 1024 * 1024 + i, 30 + i))
      await Promise.all(backends.map((backend, i) => backend.save(`side-${i}.bin`, chunked(data[i]!, 100_000))))
      for (const [i, backend] of backends.entries()) {
        expectSameBytes(await readAll(await backend.read(`side-${(i + 1) % 3}.bin`)), data[(i + 1) % 3]!)
      }
      await Promise.all(backends.map((backend) => backend.close()))
      // A closed backend refuses work instead of touching freed memory.
      await expect(backends[0]!.stat('side-0.bin')).rejects.toThrow(/closed/)
    } finally {
      await samba.stop()
    }
  })
})
