import { SmbBackend } from '../../provider/remote/smb/smb-backend'
import { startSamba } from '../helpers/samba'
import { describeBackendContract } from './backend-contract'

describeBackendContract('smb', async () => {
  const samba = await startSamba()
  const backend = await SmbBackend.connect(samba.location(), samba.password)
  return {
    backend,
    localDir: samba.shareDir,
    cleanup: async () => {
      await backend.close()
      await samba.stop()
    },
  }
})
