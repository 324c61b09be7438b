import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { SmbLocation } from '../../provider/remote/smb/smb-backend'

const run = promisify(execFile)

/**
 * A real Samba server for tests: a private smb.conf (loopback only, an unprivileged port, every
 * state directory in a temporary folder, a tdbsam password database), one user, one writable
 * share, `smbd --foreground`. Recipe: ../shared/design/test-infrastructure.md "SMB".
 *
 * smbd must run as root: it switches to the Unix account of the user who logs on. Without root the
 * helper fails loudly instead of skipping, so a test run never passes by not testing SMB.
 */
export interface SambaServer {
  readonly host: string
  readonly port: number
  readonly share: string
  readonly username: string
  readonly password: string
  /** The share's directory as this process sees it (through /proc/<pid>/root for a tmpfs share). */
  readonly shareDir: string
  /** An smb:// location of `path` inside the share. */
  location(path?: string): SmbLocation
  /** smbd's own output so far (tests grep it for secrets). */
  log(): string
  /** Stops smbd, waits `downMs`, starts it again on the same port with the same share. */
  restart(downMs?: number): Promise<void>
  stop(): Promise<void>
}

export interface SambaOptions {
  /** Put the share on a tmpfs of this size in a private mount namespace (to fill it up: ENOSPC tests). */
  shareSizeBytes?: number
  username?: string
  password?: string
  /** More SMB users, known to the server but not allowed on the share. */
  otherUsers?: { username: string; password: string }[]
}

export async function startSamba(options: SambaOptions = {}): Promise<SambaServer> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the Samba test server needs root: smbd switches to the Unix account of the SMB user it serves. Run the SMB tests as root (CI and the project machines do).',
    )
  }
  const smbd = await which('smbd', 'install Samba: apt-get install samba')
  const smbpasswd = await which('smbpasswd', 'install Samba: apt-get install samba')
  const username = options.username ?? 'xcpbackup-test'
  const password = options.password ?? `Pw-${randomBytes(9).toString('base64url')}`
  const { uid, gid } = await ensureUnixUser(username)

  const dir = await mkdtemp(join(tmpdir(), 'xcp-samba-'))
  // smbd serves the share as the SMB user, who must be able to reach it through this folder.
  await chmod(dir, 0o755)
  for (const sub of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'share']) {
    await mkdir(join(dir, sub), { recursive: true })
  }
  const shareDir = join(dir, 'share')
  await chown(shareDir, uid, gid)
  const port = await freePort()
  const conf = join(dir, 'smb.conf')
  await writeFile(
    conf,
    [
      '[global]',
      `  smb ports = ${port}`,
      '  interfaces = lo',
      '  bind interfaces only = yes',
      '  disable netbios = yes',
      '  server role = standalone server',
      `  private dir = ${dir}/private`,
      `  lock directory = ${dir}/lock`,
      `  state directory = ${dir}/state`,
      `  cache directory = ${dir}/cache`,
      `  pid directory = ${dir}/pid`,
      `  ncalrpc dir = ${dir}/ncalrpc`,
      `  passdb backend = tdbsam:${dir}/private/passdb.tdb`,
      '  map to guest = never',
      '  load printers = no',
      '  printcap name = /dev/null',
      '  disable spoolss = yes',
      '  log level = 1',
      '',
      '[backups]',
      `  path = ${shareDir}`,
      '  read only = no',
      `  valid users = ${username}`,
      '',
    ].join('\n'),
  )
  await runWithInput(smbpasswd, ['-c', conf, '-s', '-a', username], `${password}\n${password}\n`)
  for (const other of options.otherUsers ?? []) {
    await ensureUnixUser(other.username)
    await runWithInput(smbpasswd, ['-c', conf, '-s', '-a', other.username], `${other.password}\n${other.password}\n`)
  }

  const smbdArgs = ['-s', conf, '--foreground', '--no-process-group', '--debug-stdout']
  let output = ''
  const launch = async (): Promise<Running> => {
    const child =
      options.shareSizeBytes === undefined
        ? spawn(smbd, smbdArgs, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(
            'unshare',
            [
              '--mount',
              '--propagation',
              'private',
              'sh',
              '-c',
              'mount -t tmpfs -o "size=$1,uid=$2,gid=$3,mode=0755" tmpfs "$4" && shift 4 && exec "$@"',
              'sh',
              String(options.shareSizeBytes),
              String(uid),
              String(gid),
              shareDir,
              smbd,
              ...smbdArgs,
            ],
            { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
          )
    const capture = (data: Buffer) => {
      output = (output + data.toString()).slice(-1_000_000)
    }
    child.stdout?.on('data', capture)
    child.stderr?.on('data', capture)
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    trackForExit(child, exited)
    try {
      await waitForPort(port, exited, () => output)
    } catch (error) {
      await stopProcess(child, exited)
      throw error
    }
    return { child, exited }
  }

  let running: Running
  try {
    running = await launch()
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  const visibleShareDir = options.shareSizeBytes === undefined ? shareDir : `/proc/${running.child.pid}/root${shareDir}`
  return {
    host: '127.0.0.1',
    port,
    share: 'backups',
    username,
    password,
    shareDir: visibleShareDir,
    location: (path = '') => ({
      type: 'smb',
      host: '127.0.0.1',
      port,
      share: 'backups',
      path,
      domain: undefined,
      username,
    }),
    log: () => output,
    restart: async (downMs = 0) => {
      if (options.shareSizeBytes !== undefined) throw new Error('restart() keeps the share: not with a tmpfs share')
      await stopProcess(running.child, running.exited)
      await new Promise((r) => setTimeout(r, downMs))
      running = await launch()
    },
    stop: async () => {
      await stopProcess(running.child, running.exited)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/**
 * smbd runs detached in its own process group. If a test process ends without stopping a server (a
 * setup that threw after starting it, a crash), its group is killed on exit rather than left behind.
 */
const running = new Set<number>()
let exitHookInstalled = false

function trackForExit(child: ChildProcess, exited: Promise<number | null>): void {
  if (child.pid === undefined) return
  const pid = child.pid
  running.add(pid)
  void exited.then(() => running.delete(pid))
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const group of running) {
      try {
        process.kill(-group, 'SIGKILL')
      } catch {}
    }
  })
}

interface Running {
  child: ChildProcess
  exited: Promise<number | null>
}

async function which(command: string, help: string): Promise<string> {
  try {
    return (await run('sh', ['-c', `command -v ${command}`])).stdout.trim()
  } catch {
    throw new Error(`${command} is not installed: ${help}`)
  }
}

async function ensureUnixUser(name: string): Promise<{ uid: number; gid: number }> {
  const ids = async () => ({
    uid: Number((await run('id', ['-u', name])).stdout.trim()),
    gid: Number((await run('id', ['-g', name])).stdout.trim()),
  })
  try {
    return await ids()
  } catch {
    try {
      await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name])
    } catch (error) {
      // Another test file may have created it in the meantime.
      if (!String((error as { stderr?: string }).stderr).includes('already exists')) throw error
    }
    return ids()
  }
}

function runWithInput(command: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => {
      output += d
    })
    child.stderr.on('data', (d: Buffer) => {
      output += d
    })
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${output}`)),
    )
    child.stdin.end(input)
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

async function waitForPort(port: number, exited: Promise<number | null>, log: () => string): Promise<void> {
  let done = false
  const failure = exited.then((code) => {
    if (!done) throw new Error(`smbd exited (code ${code}) before listening on port ${port}:\n${log()}`)
  })
  const deadline = Date.now() + 30_000
  try {
    while (Date.now() < deadline) {
      const ok = await Promise.race([canConnect(port), failure.then(() => false)])
      if (ok) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`smbd did not listen on port ${port} within 30 s:\n${log()}`)
  } finally {
    done = true
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** SIGTERM to smbd's process group (it was started detached, so the group is ours alone), then SIGKILL. */
async function stopProcess(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name)
    } catch {}
  }
  signal('SIGTERM')
  const timer = setTimeout(() => signal('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
  // Per-connection smbd children may outlive the parent by a moment; the group signal reaches them.
  signal('SIGKILL')
}
