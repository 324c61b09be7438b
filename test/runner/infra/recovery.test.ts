import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { packageRoot } from '../../../provider/common/package-info'
import { currentOwner, logEventSchema, ownerMayBeAlive, RunLog, runFile } from '../../../provider/runner/log'
import { useStateDirs } from './helpers/state-dir'

const newStateDir = useStateDirs()
const logModule = join(packageRoot, 'dist/provider/runner/log/index.js')

/**
 * A real runner process that starts a run, gets half way through a VM backup, reports its run id and
 * then waits to be killed: what a crash or `kill -9` leaves behind.
 */
function startWriter(stateDir: string): Promise<{ child: ChildProcess; runId: string }> {
  const script = `
    const { RunLog } = require(${JSON.stringify(logModule)})
    const { runLog } = RunLog.open({ stateDir: ${JSON.stringify(stateDir)} })
    const run = runLog.start({ jobId: 'job-1', jobName: 'nightly', scheduleId: 's', scheduleName: 'daily', mode: 'delta' })
    run.child('backup VM', { vmUuid: 'done', name_label: 'done' }).succeed()
    const vm = run.child('backup VM', { vmUuid: 'busy', name_label: 'busy' })
    vm.child('snapshot').succeed('snap')
    vm.child('export', { id: 'nas', type: 'remote' }).child('transfer').setProgress(10, 100)
    process.stdout.write(run.runId + '\\n')
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)))
    child.stdout!.once('data', (data: Buffer) => {
      child.removeAllListeners('exit')
      resolve({ child, runId: data.toString().trim() })
    })
  })
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

describe('runs cut by a crash', () => {
  it('are ended interrupted, every pending task and the run, when the runner starts again', async () => {
    const stateDir = newStateDir()
    const { child, runId } = await startWriter(stateDir)
    const path = runFile(stateDir, 'job-1', runId)
    const lastEventTime = logEventSchema.parse(
      JSON.parse(readFileSync(path, 'utf8').trimEnd().split('\n').at(-1)!),
    ).time

    // While the writer lives, another process opening the log leaves its run alone.
    const early = RunLog.open({ stateDir })
    expect(early.recovery.interrupted).toEqual([])
    expect(early.runLog.store.listRuns('job-1').runs[0]).toMatchObject({
      summary: { status: 'pending' },
      orphaned: false,
    })

    await kill(child)
    // Readers show it as interrupted before anything is written.
    expect(early.runLog.store.listRuns('job-1').runs[0]).toMatchObject({
      summary: { status: 'pending' },
      orphaned: true,
    })

    const { runLog, recovery } = RunLog.open({ stateDir })
    expect(recovery.problems).toEqual([])
    expect(recovery.interrupted.map((run) => [run.runId, run.status])).toEqual([[runId, 'interrupted']])
    expect(recovery.interrupted[0]!.vmCounts).toEqual({ success: 1, failure: 0, skipped: 0, interrupted: 1 })
    const tree = runLog.store.loadRun('job-1', runId)
    expect(tree.pendingTasks()).toEqual([])
    expect([...tree.tasks.values()].map((task) => [task.name, task.status])).toEqual([
      ['backup run', 'interrupted'],
      ['backup VM', 'success'],
      ['backup VM', 'interrupted'],
      ['snapshot', 'success'],
      ['export', 'interrupted'],
      ['transfer', 'interrupted'],
    ])
    const transfer = [...tree.tasks.values()].find((task) => task.name === 'transfer')!
    expect(transfer.end).toBe(lastEventTime)
    expect(transfer.error).toMatchObject({ code: 'INTERRUPTED', explanation: { title: 'The run was interrupted' } })
    const events = readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(events.filter((event) => event.recovered === true).map((event) => event.id)).toHaveLength(4)
    expect(runLog.store.listRuns('job-1').runs[0]).toMatchObject({
      summary: { status: 'interrupted' },
      orphaned: false,
    })

    // Once recorded, a second start changes nothing.
    const again = RunLog.open({ stateDir })
    expect(again.recovery.interrupted).toEqual([])
    expect(readFileSync(path, 'utf8').trimEnd().split('\n')).toHaveLength(events.length)
  })

  it('cut the half-written last line off before recording the interruption', async () => {
    const stateDir = newStateDir()
    const { child, runId } = await startWriter(stateDir)
    await kill(child)
    const path = runFile(stateDir, 'job-1', runId)
    appendFileSync(path, '{"type":"property","id":"7","name":"progr')
    const { runLog, recovery } = RunLog.open({ stateDir })
    expect(recovery.interrupted.map((run) => run.status)).toEqual(['interrupted'])
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n')
    for (const line of lines) logEventSchema.parse(JSON.parse(line))
    expect(runLog.store.loadRun('job-1', runId).root!.status).toBe('interrupted')
  })
})

describe('run owners', () => {
  it('are alive only while their process runs: same instance, or a live pid of this host and boot', async () => {
    const me = currentOwner()
    expect(ownerMayBeAlive(me)).toBe(true)
    // A restarted container's runner gets the same pid (1) but is another process.
    expect(ownerMayBeAlive({ ...me, instance: 'previous' })).toBe(false)
    expect(ownerMayBeAlive({ ...me, instance: 'previous', hostname: 'elsewhere' })).toBe(false)
    if (me.bootId !== undefined)
      expect(ownerMayBeAlive({ ...me, instance: 'x', pid: 1, bootId: 'another-boot' })).toBe(false)
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    try {
      expect(ownerMayBeAlive({ ...me, instance: 'child', pid: child.pid! })).toBe(true)
    } finally {
      await kill(child)
    }
    expect(ownerMayBeAlive({ ...me, instance: 'child', pid: child.pid! })).toBe(false)
  })
})
