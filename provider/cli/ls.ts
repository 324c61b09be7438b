import { readFile } from 'node:fs/promises'
import { Command } from 'commander'
import { parseRemoteUrl, type RemoteLocation } from '../policy/remote-url'
import { openRemote } from '../remote/open-remote'
import { type BackupListing, listRemote, type RemoteListing, type VmListing } from '../remote/restore/list-remote'

/**
 * `xcp-backup ls REMOTE_URL`: the VMs and backups on a remote (ours or Xen Orchestra's), read-only.
 * An SMB password comes from a file or an environment variable, never from the command line, and is
 * never printed.
 */
export function lsCommand(): Command {
  return new Command('ls')
    .description('list the VMs and backups on a remote (read-only; works on Xen Orchestra remotes too)')
    .argument('<remote-url>', 'file:///path/to/remote or smb://[domain;]user@host[:port]/share[/path]')
    .option('--password-file <file>', 'SMB: read the password from this file (its first line)')
    .option('--credentials-env <variable>', 'SMB: read the password from this environment variable')
    .option('--json', 'print the listing as JSON')
    .action(async (url: string, options: LsOptions) => {
      const location = parseRemoteUrl(url)
      const password = await readPassword(location, options)
      const backend = await openRemote(location, { password })
      try {
        const listing = await listRemote(backend)
        process.stdout.write(options.json ? `${JSON.stringify(listing, null, 2)}\n` : formatListing(listing))
      } finally {
        await backend.close()
      }
    })
}

interface LsOptions {
  passwordFile?: string
  credentialsEnv?: string
  json?: boolean
}

async function readPassword(location: RemoteLocation, options: LsOptions): Promise<string | undefined> {
  if (options.passwordFile !== undefined && options.credentialsEnv !== undefined) {
    throw new Error('give the password one way: --password-file or --credentials-env, not both')
  }
  if (location.type === 'nfs') {
    throw new Error(
      'ls reads NFS remotes through a mounted directory: mount the export (mount -t nfs host:/export /mnt/backups) and run xcp-backup ls file:///mnt/backups',
    )
  }
  if (location.type !== 'smb') return undefined
  if (options.passwordFile !== undefined) {
    const text = await readFile(options.passwordFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(`cannot read the password file ${options.passwordFile}: ${error.code ?? error.message}`)
    })
    const password = text.split(/\r?\n/)[0] ?? ''
    if (password === '') throw new Error(`the password file ${options.passwordFile} is empty`)
    return password
  }
  if (options.credentialsEnv !== undefined) {
    const password = process.env[options.credentialsEnv]
    if (password === undefined || password === '') {
      throw new Error(`the environment variable ${options.credentialsEnv} is not set (it should hold the SMB password)`)
    }
    return password
  }
  throw new Error(
    `SMB remote ${location.username}@${location.host}/${location.share} needs a password: pass --password-file FILE or --credentials-env VARIABLE (never on the command line)`,
  )
}

/** The listing for people: one table per VM, full ids for the jobs and schedules shortened in it. */
export function formatListing(listing: RemoteListing): string {
  const backups = listing.vms.reduce((n, vm) => n + vm.backups.length, 0)
  const incomplete = listing.vms.reduce((n, vm) => n + vm.backups.filter((b) => b.status !== 'complete').length, 0)
  const lines = [
    `Remote ${listing.remote}: ${plural(listing.vms.length, 'VM')}, ${plural(backups, 'backup')}` +
      (incomplete > 0 ? ` (${incomplete} incomplete)` : ''),
  ]
  for (const vm of listing.vms) lines.push('', ...formatVm(vm))
  return `${lines.join('\n')}\n`
}

function formatVm(vm: VmListing): string[] {
  const lines = [`VM ${vm.name ?? '(no readable backup)'}  ${vm.uuid}  (${plural(vm.backups.length, 'backup')})`]
  const rows = [['TIME (UTC)', 'MODE', 'SIZE', 'DISKS', 'STATUS', 'JOB', 'SCHEDULE', 'LTR TAGS']]
  const notes = new Map<number, string[]>()
  for (const backup of vm.backups) {
    rows.push([
      backup.time.replace('T', ' ').slice(0, 19),
      backup.mode,
      formatBytes(backup.size),
      disksColumn(backup),
      backup.status,
      backup.jobId.slice(0, 8),
      backup.scheduleId.slice(0, 8),
      backup.tags.length === 0 ? '-' : backup.tags.join(' '),
    ])
    if (backup.missing.length > 0)
      notes.set(
        rows.length - 1,
        backup.missing.map((path) => `missing ${path}`),
      )
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  rows.forEach((row, index) => {
    lines.push(`  ${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}`.trimEnd())
    for (const note of notes.get(index) ?? []) lines.push(`      ${note}`)
  })
  const ids = (key: 'jobId' | 'scheduleId') => [...new Set(vm.backups.map((b) => b[key]))].sort()
  if (vm.backups.length > 0) {
    lines.push(`  jobs: ${ids('jobId').join(', ')}`)
    lines.push(`  schedules: ${ids('scheduleId').join(', ')}`)
  }
  for (const file of vm.unreadable) lines.push(`  unreadable: ${file.path}: ${file.reason}`)
  return lines
}

function disksColumn(backup: BackupListing): string {
  if (backup.mode === 'full') return 'xva'
  const disks = backup.disks ?? []
  const deltas = disks.filter((disk) => disk.differencing).length
  return `${disks.length} (${deltas === 0 ? 'full' : deltas === disks.length ? 'delta' : `${deltas} delta`})`
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}
