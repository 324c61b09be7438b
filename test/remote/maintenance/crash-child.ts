import type { OpenMode, RandomAccessFile } from '../../../provider/disk/io'
import type { DataSource, RemoteBackend } from '../../../provider/remote/backend'
import { FileBackend } from '../../../provider/remote/file/file-backend'
import { vmBackupDir } from '../../../provider/remote/layout/paths'
import { acquireLock } from '../../../provider/remote/lock'
import { cleanVm } from '../../../provider/remote/maintenance/clean-vm'
import { applyRetention, planRetention } from '../../../provider/remote/maintenance/retention'
import { SmbBackend, type SmbLocation } from '../../../provider/remote/smb/smb-backend'

/**
 * What a backup run does on a remote once its backup is written (retention, then clean-vm with
 * merges), in a process the crash tests kill with SIGKILL. Every operation that changes the remote
 * is counted; with `killAt`, the process SIGKILLs itself right before operation number `killAt`
 * (or, for a save, right before its temporary file is renamed), so a test can crash it at each
 * point in turn. Prints the operations it did and the clean-vm result as JSON.
 */
export interface CrashChildConfig {
  remote: { type: 'file'; root: string } | { type: 'smb'; location: SmbLocation }
  vmUuid: string
  scheduleId: string
  retention: number
  killAt?: number
  staleMs: number
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as CrashChildConfig
  const raw: RemoteBackend =
    config.remote.type === 'file'
      ? await FileBackend.open(config.remote.root)
      : await SmbBackend.connect(config.remote.location, process.env.XCP_TEST_SMB_PASSWORD ?? '')
  const operations: string[] = []
  const step = (operation: string) => {
    operations.push(operation)
    if (operations.length === config.killAt) process.kill(process.pid, 'SIGKILL')
  }
  const backend = counting(raw, step)
  const lock = await acquireLock(raw, vmBackupDir(config.vmUuid), { staleMs: config.staleMs })
  const plan = await planRetention(
    backend,
    { vmUuid: config.vmUuid, scheduleId: config.scheduleId, mode: 'delta' },
    { retention: config.retention },
    'after-transfer',
  )
  await applyRetention(backend, plan, { lock })
  const result = await cleanVm(backend, config.vmUuid, {
    merge: true,
    remove: true,
    lock,
    mergeStateIntervalMs: 0,
    blocksPerCheckpoint: 1,
  })
  await lock.release()
  await raw.close()
  process.stdout.write(`${JSON.stringify({ operations, result })}\n`)
}

/** The backend with `step` called before every change it makes. */
function counting(inner: RemoteBackend, step: (operation: string) => void): RemoteBackend {
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    save: (path: string, source: DataSource, options) => {
      step(`save ${path}`)
      return inner.save(
        path,
        endingWith(source, () => step(`rename temporary of ${path}`)),
        options,
      )
    },
    open: async (path: string, mode: OpenMode) => {
      const file = await inner.open(path, mode)
      return mode === 'read' ? file : countingFile(file, path, step)
    },
    read: (path, range) => inner.read(path, range),
    stat: (path) => inner.stat(path),
    list: (dir) => inner.list(dir),
    remove: (path) => {
      step(`remove ${path}`)
      return inner.remove(path)
    },
    removeDirectory: (path) => {
      step(`removeDirectory ${path}`)
      return inner.removeDirectory(path)
    },
    rename: (from, to) => {
      step(`rename ${from} -> ${to}`)
      return inner.rename(from, to)
    },
    mkdir: (path, options) => inner.mkdir(path, options),
    setModifiedTime: (path, mtime) => inner.setModifiedTime(path, mtime),
    freeSpace: () => inner.freeSpace(),
    close: () => inner.close(),
  }
}

function countingFile(file: RandomAccessFile, path: string, step: (operation: string) => void): RandomAccessFile {
  return {
    read: (position, length) => file.read(position, length),
    write: (position, data) => {
      step(`write ${path} @${position} +${data.length}`)
      return file.write(position, data)
    },
    truncate: (size) => {
      step(`truncate ${path} ${size}`)
      return file.truncate(size)
    },
    size: () => file.size(),
    sync: () => file.sync(),
    close: () => file.close(),
  }
}

/** The source's chunks, then `last()` once all were handed over: the save's data is written, its rename not yet done. */
async function* endingWith(source: DataSource, last: () => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) yield chunk
  last()
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack}\n`)
  process.exit(1)
})
