import { execFile, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { packageRoot } from '../../../provider/common/package-info'
import { jobStatusSchema, parseRunDocument, RunLog, runFile, TaskNames } from '../../../provider/runner/log'
import { writeJobsFile } from '../../../provider/runner/schedule'
import { FakeClock } from './helpers/fake-clock'
import { makeJob } from './helpers/jobs'
import { useStateDirs, xapiError } from './helpers/state-dir'

const run = promisify(execFile)
const cli = join(packageRoot, 'dist/provider/cli/main.js')
const newStateDir = useStateDirs('file')
const GiB = 2 ** 30
const SECRET = 'pool-password-never-shown'

/** Runs the real command with times shown in UTC. */
async function xcpBackup(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, ...args], { env: { ...process.env, TZ: 'UTC' } })
}

/** Exit code and output of a command that is expected to fail. */
function xcpBackupFails(...args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { env: { ...process.env, TZ: 'UTC' }, encoding: 'utf8' })
  return { status: result.status, stderr: result.stderr }
}

interface Fixture {
  stateDir: string
  runIds: string[]
  orphanRunId: string
}

/**
 * Three nights of job "nightly" (a success, then two failures) and a run of job "weekly full" whose
 * runner died, written through the RunLog API; plus the jobs file the runner writes.
 */
async function populate(stateDir: string): Promise<Fixture> {
  const clock = new FakeClock(Date.parse('2026-06-01T03:00:00Z'))
  const { runLog } = RunLog.open({ stateDir, clock, secrets: [SECRET] })
  const nightly = {
    jobId: 'job-1',
    jobName: 'nightly',
    scheduleId: 'sched-daily',
    scheduleName: 'daily',
    mode: 'delta',
  }
  const runIds: string[] = []
  for (let night = 0; night < 3; night++) {
    clock.setWall(new Date(Date.parse('2026-06-01T03:00:00Z') + night * 86_400_000))
    const root = runLog.start(nightly)
    runIds.push(root.runId)
    root.info('vms', { vms: ['uuid-web', 'uuid-db'] })
    const web = root.child(TaskNames.vm, { vmUuid: 'uuid-web', name_label: 'web-1' })
    const snapshot = web.child(TaskNames.snapshot)
    await clock.advance(4000)
    snapshot.succeed('snap-uuid')
    const exported = web.child(TaskNames.export, { id: 'nas', type: 'remote', isFull: false })
    const transfer = exported.child(TaskNames.transfer)
    await clock.advance(60_000)
    transfer.succeed({ size: GiB })
    exported.succeed()
    web.succeed()
    const db = root.child(TaskNames.vm, { vmUuid: 'uuid-db', name_label: 'db-1' })
    if (night === 0) db.succeed()
    else
      db.child(TaskNames.snapshot).fail(
        xapiError('SR_BACKEND_FAILURE_44', `SR_BACKEND_FAILURE_44(, insufficient space, ${SECRET})`),
      )
    db.succeed()
    await clock.advance(1000)
    root.succeed()
  }
  const weekly = runLog.start({
    jobId: 'job-2',
    jobName: 'weekly full',
    scheduleId: 's',
    scheduleName: 'sunday',
    mode: 'full',
  })
  weekly.child(TaskNames.vm, { vmUuid: 'uuid-erp', name_label: 'erp' })
  // Its runner died: give the run the pid of a process that has exited.
  const dead = spawnSync(process.execPath, ['-e', '']).pid
  const path = runFile(stateDir, 'job-2', weekly.runId)
  const [header, ...rest] = readFileSync(path, 'utf8').split('\n')
  const { owner, ...fields } = JSON.parse(header!)
  const deadOwner = { ...owner, pid: dead, instance: 'a-process-that-exited' }
  writeFileSync(path, [JSON.stringify({ ...fields, owner: deadOwner }), ...rest].join('\n'))
  writeJobsFile(stateDir, [makeJob('job-1', [{ name: 'daily', cron: '0 3 * * *' }], 'nightly')], clock.now())
  return { stateDir, runIds, orphanRunId: weekly.runId }
}

describe('xcp-backup logs and status', () => {
  let fixture: Fixture
  beforeAll(async () => {
    fixture = await populate(newStateDir())
  })

  it('lists the runs of every job, newest first', async () => {
    const { stdout } = await xcpBackup('logs', '--state-dir', fixture.stateDir)
    const [a, b, c] = fixture.runIds
    expect(stdout).toBe(
      [
        'nightly (job-1)',
        `  ${c}  2026-06-03 03:00:00  failure      1m5s      daily  (1 success, 1 failure)  1.0 GiB`,
        `  ${b}  2026-06-02 03:00:00  failure      1m5s      daily  (1 success, 1 failure)  1.0 GiB`,
        `  ${a}  2026-06-01 03:00:00  success      1m5s      daily  (2 success)  1.0 GiB`,
        '',
        'weekly full (job-2)',
        `  ${fixture.orphanRunId}  2026-06-03 03:01:05  interrupted  -         sunday`,
        '',
      ].join('\n'),
    )
  })

  it("shows one run's tree with durations, sizes and explained errors, and never a secret", async () => {
    const { stdout } = await xcpBackup(
      'logs',
      'nightly',
      '--run',
      fixture.runIds[2]!,
      '--config',
      writeConfig(fixture.stateDir),
    )
    expect(stdout).toContain(`nightly / daily (delta)  run ${fixture.runIds[2]}  failure`)
    expect(stdout).toContain('  started 2026-06-03 03:00:00, ended 2026-06-03 03:01:05 (1m5s)')
    expect(stdout).toContain('├─ backup VM web-1 (uuid-web)  success  1m4s')
    expect(stdout).toContain('│  ├─ snapshot  success  4s  → snap-uuid')
    expect(stdout).toContain('│     └─ transfer  success  1m  1.0 GiB')
    expect(stdout).toContain('└─ backup VM db-1 (uuid-db)  failure  0s')
    expect(stdout).toContain('      SR_BACKEND_FAILURE_44: Not enough space on the storage repository')
    expect(stdout).toContain('        SR_BACKEND_FAILURE_44(, insufficient space, ***)')
    expect(stdout).toContain('        What to do:')
    expect(stdout).toContain('          - Free space on the SR, or move some VM disks to another SR.')
    expect(stdout).not.toContain(SECRET)
  })

  it('prints a run as the JSON run document', async () => {
    const { stdout } = await xcpBackup('logs', '--run', fixture.runIds[0]!, '--json', '--state-dir', fixture.stateDir)
    const document = parseRunDocument(JSON.parse(stdout))
    expect(document.summary).toMatchObject({ runId: fixture.runIds[0], status: 'success', size: GiB })
    expect(document.root.tasks.map((task) => task.properties.name_label)).toEqual(['web-1', 'db-1'])
    const orphan = JSON.parse(
      (await xcpBackup('logs', '--run', fixture.orphanRunId, '--json', '--state-dir', fixture.stateDir)).stdout,
    )
    expect(orphan).toMatchObject({ orphaned: true, summary: { status: 'pending' } })
  })

  it('shows per job the last run, failures in a row, the last success and the next run', async () => {
    const { stdout } = await xcpBackup('status', '--state-dir', fixture.stateDir)
    const [nightly, weekly] = stdout.trimEnd().split('\n\n')
    expect(nightly!.split('\n').slice(0, 6)).toEqual([
      'nightly (job-1)',
      '  last run:      2026-06-03 03:00:00 (daily), 1m5s: failure (VMs: 1 success, 1 failure)',
      '    db-1: SR_BACKEND_FAILURE_44: Not enough space on the storage repository',
      '  last success:  2026-06-01 03:00:00',
      '  failures in a row: 2',
      expect.stringMatching(/^ {2}next run: {6}\d{4}-\d\d-\d\d 03:00:00 \(daily\)$/),
    ])
    expect(weekly).toContain(
      'weekly full (job-2)\n  last run:      none\n  interrupted:   2026-06-03 03:01:05 (sunday)',
    )
    expect(weekly).toContain('next run:      none (no enabled schedule, or the runner no longer follows this job)')
  })

  it('prints the status records as JSON', async () => {
    const { stdout } = await xcpBackup('status', '--json', '--state-dir', fixture.stateDir)
    const views = JSON.parse(stdout) as {
      jobId: string
      status: unknown
      nextRun?: { at: string }
      running?: unknown
    }[]
    expect(views.map((view) => view.jobId)).toEqual(['job-1', 'job-2'])
    const nightly = jobStatusSchema.parse(views[0]!.status)
    expect(nightly).toMatchObject({
      jobId: 'job-1',
      consecutiveFailures: 2,
      lastSuccess: { runId: fixture.runIds[0] },
      lastRun: { runId: fixture.runIds[2], status: 'failure', errors: [{ vm: 'db-1', code: 'SR_BACKEND_FAILURE_44' }] },
    })
    expect(Date.parse(views[0]!.nextRun!.at)).toBeGreaterThan(Date.now())
    expect(views[1]!.running).toMatchObject({ runId: fixture.orphanRunId, orphaned: true })
  })

  it('explains what is missing or wrong on the command line, with exit code 2', () => {
    expect(xcpBackupFails('logs')).toMatchObject({ status: 2, stderr: expect.stringContaining('Give --state-dir DIR') })
    const unknown = xcpBackupFails('logs', 'monthly', '--state-dir', fixture.stateDir)
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toContain('no runs for job "monthly"')
    expect(unknown.stderr).toContain('jobs with runs: nightly (job-1), weekly full (job-2)')
    expect(xcpBackupFails('logs', '--run', '000000000-00000000', '--state-dir', fixture.stateDir).stderr).toContain(
      'no run 000000000-00000000',
    )
    const badConfig = xcpBackupFails('status', '--config', writeConfig(fixture.stateDir, 'stateDir: [1]'))
    expect(badConfig.status).toBe(1)
    expect(badConfig.stderr).toContain('stateDir: expected a string, got a list')
  })
})

/** A runner configuration pointing at the state directory; its password file does not even exist. */
function writeConfig(stateDir: string, stateDirLine = `stateDir: ${stateDir}`): string {
  const file = join(stateDir, `runner-${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(
    file,
    [
      'pools:',
      '  - name: main',
      '    url: https://pool.lan',
      '    user: root',
      '    passwordFile: /nonexistent/pw',
      stateDirLine,
      '',
    ].join('\n'),
  )
  return file
}
