import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileBackend } from '../../provider/remote/file/file-backend'
import { describeBackendContract } from './backend-contract'

describeBackendContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'xcp-file-remote-'))
  return {
    backend: await FileBackend.open(dir),
    localDir: dir,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
})

describe('FileBackend.open', () => {
  it('says what to do when the directory does not exist', async () => {
    await expect(FileBackend.open('/nonexistent/xcp-backup-remote')).rejects.toThrow(
      /directory \/nonexistent\/xcp-backup-remote does not exist; create it, or mount the export there first/,
    )
  })
})
