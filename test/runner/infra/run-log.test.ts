import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  deriveStatus,
  InterruptedError,
  type LogEvent,
  logEventSchema,
  parseRunDocument,
  RunLog,
  type RunLogEvent,
  RunLogFormatError,
  RunNotFinishedError,
  runDocument,
  runFile,
  type StatusInput,
  TaskNames,
} from '../../../provider/runner/log'
import { FakeClock } from './helpers/fake-clock'
import { useStateDirs, xapiError } from './helpers/state-dir'

const newStateDir = useStateDirs()
const T0 = Date.parse('2026-06-01T03:00:00Z')

const job = {
  jobId: 'job-1',
  jobName: 'nightly',
  scheduleId: 'c5c5b5a5-0000-5000-8000-000000000001',
  scheduleName: 'daily',
  mode: 'delta',
}

function fileEvents(stateDir: string, jobId: string, runId: string): LogEvent[] {
  return readFileSync(runFile(stateDir, jobId, runId), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => logEventSchema.parse(JSON.parse(line)))
}

describe('run log', () => {
  it('writes the task tree as JSON lines and reads back the same tree with derived statuses', async () => {
    const stateDir = newStateDir()
    const clock = new FakeClock(T0)
    const { runLog } = RunLog.open({ stateDir, clock })
    const seen: RunLogEvent[] = []
    runLog.subscribe((event) => seen.push(event))

    const run = runLog.start(job)
    run.info('vms', { vms: ['uuid-a', 'uuid-b'] })
    const a = run.child(TaskNames.vm, { vmUuid: 'uuid-a', name_label: 'web-1' })
    await clock.advance(2000)
    const snapshot = a.child(TaskNames.snapshot)
    await clock.advance(3000)
    snapshot.succeed('snapshot-uuid')
    const exported = a.child(TaskNames.export, { id: 'nas', type: 'remote', isFull: true })
    const transfer = exported.child(TaskNames.transfer)
    transfer.setProgress(512, 1024)
    await clock.advance(10_000)
    transfer.succeed({ size: 1024 })
    exported.succeed()
    a.succeed()
    const b = run.child(TaskNames.vm, { vmUuid: 'uuid-b', name_label: 'db-1' })
    b.child(TaskNames.snapshot).fail(
      xapiError('SR_BACKEND_FAILURE_44', 'SR_BACKEND_FAILURE_44(, There is insufficient space, )'),
    )
    expect(b.succeed()).toBe('failure')
    await clock.advance(1000)
    expect(run.succeed()).toBe('failure')

    const tree = runLog.store.loadRun(job.jobId, run.runId)
    const root = tree.root!
    expect(root).toMatchObject({ name: 'backup run', status: 'failure', start: T0, end: T0 + 16_000 })
    expect(root.properties).toEqual({ ...job, runId: run.runId })
    expect(root.infos).toEqual([{ message: 'vms', data: { vms: ['uuid-a', 'uuid-b'] }, time: T0 }])
    const [vmA, vmB] = root.tasks
    expect(vmA).toMatchObject({ status: 'success', properties: { vmUuid: 'uuid-a', name_label: 'web-1' } })
    expect(vmA!.tasks.map((task) => [task.name, task.status, task.end! - task.start])).toEqual([
      ['snapshot', 'success', 3000],
      ['export', 'success', 10_000],
    ])
    expect(vmA!.tasks[1]!.tasks[0]).toMatchObject({
      result: { size: 1024 },
      properties: { progress: { done: 512, total: 1024 } },
    })
    expect(vmB!.tasks[0]!.error).toMatchObject({
      code: 'SR_BACKEND_FAILURE_44',
      message: 'SR_BACKEND_FAILURE_44(, There is insufficient space, )',
      explanation: { title: 'Not enough space on the storage repository' },
    })
    expect(vmB!.tasks[0]!.error!.explanation.actions.length).toBeGreaterThan(0)
    // The file and the in-process events are the same events, in the same order.
    expect(seen.map((event) => event.event)).toEqual(fileEvents(stateDir, job.jobId, run.runId))
    expect(seen.every((event) => event.runId === run.runId && event.jobId === job.jobId)).toBe(true)

    const { runs } = runLog.store.listRuns(job.jobId)
    expect(runs[0]!.summary).toMatchObject({
      runId: run.runId,
      status: 'failure',
      vmCounts: { success: 1, failure: 1, skipped: 0, interrupted: 0 },
      errors: [
        {
          vm: 'db-1',
          vmUuid: 'uuid-b',
          code: 'SR_BACKEND_FAILURE_44',
          title: 'Not enough space on the storage repository',
        },
      ],
      size: 1024,
    })
  })

  it('reports a job with no matching VM, and a VM skipped for chain protection, as skipped', () => {
    const stateDir = newStateDir()
    const { runLog } = RunLog.open({ stateDir, clock: new FakeClock(T0) })
    const empty = runLog.start(job)
    expect(empty.fail(new Error('no VMs match this pattern'))).toBe('skipped')
    expect(runLog.store.loadRun(job.jobId, empty.runId).root!.error!.code).toBe('NO_VMS_MATCH')

    const run = runLog.start(job)
    run.child(TaskNames.vm, { vmUuid: 'a', name_label: 'a' }).succeed()
    const chained = run.child(TaskNames.vm, { vmUuid: 'b', name_label: 'b' })
    expect(chained.fail(xapiError('UNHEALTHY_VDI_CHAIN', 'unhealthy VDI chain'))).toBe('skipped')
    expect(run.succeed()).toBe('skipped')
    const summary = runLog.store.listRuns(job.jobId).runs.find((r) => r.summary.runId === run.runId)!.summary
    expect(summary.vmCounts).toEqual({ success: 1, failure: 0, skipped: 1, interrupted: 0 })
    expect(summary.errors).toEqual([
      { vm: 'b', vmUuid: 'b', code: 'UNHEALTHY_VDI_CHAIN', title: 'VDI chain protection: the VM was skipped' },
    ])

    const reason = runLog.start(job)
    const vm = reason.child(TaskNames.vm, { vmUuid: 'c', name_label: 'c' })
    expect(vm.skip('the VM is a replica of this job')).toBe('skipped')
    expect(runLog.store.loadRun(job.jobId, reason.runId).root!.tasks[0]!.error).toMatchObject({
      code: 'SKIPPED',
      message: 'the VM is a replica of this job',
      explanation: { title: 'Skipped' },
    })
  })

  it('records an unknown error with its own code and a generic explanation', () => {
    const { runLog } = RunLog.open({ stateDir: newStateDir(), clock: new FakeClock(T0) })
    const run = runLog.start(job)
    run.fail(new TypeError('cannot read properties of undefined'))
    expect(runLog.store.loadRun(job.jobId, run.runId).root!.error).toMatchObject({
      code: 'TypeError',
      message: 'cannot read properties of undefined',
      explanation: { title: 'Unexpected error' },
    })
  })

  it('tells subscribers when a run has ended, with its summary, and masks secrets learnt later', () => {
    const stateDir = newStateDir()
    const { runLog } = RunLog.open({ stateDir, clock: new FakeClock(T0) })
    const finished: string[] = []
    runLog.onRunFinished((summary) => finished.push(`${summary.runId} ${summary.status}`))
    const run = runLog.start(job)
    runLog.addSecret('s3-secret-key-1234')
    run.info('using s3-secret-key-1234')
    expect(finished).toEqual([])
    run.succeed()
    expect(finished).toEqual([`${run.runId} success`])
    expect(readFileSync(runFile(stateDir, job.jobId, run.runId), 'utf8')).not.toContain('s3-secret-key-1234')
  })

  it('never writes a known secret or URL credentials, in messages, data, properties or results', () => {
    const stateDir = newStateDir()
    const password = 'hunter2-pool-secret'
    const seen: string[] = []
    const { runLog } = RunLog.open({ stateDir, clock: new FakeClock(T0), secrets: [password] })
    runLog.subscribe((event) => seen.push(JSON.stringify(event)))
    const run = runLog.start(job)
    run.info(`connecting with ${password}`, { url: 'smb://admin:sm8-Pa55@nas/share', again: password })
    run.setProperty('target', { [password]: 'https://root:tops3cret@10.0.0.1/' })
    const vm = run.child(TaskNames.vm, { vmUuid: 'a', name_label: 'a' })
    vm.fail(new Error(`login failed for root with password ${password} at https://root:tops3cret@10.0.0.1`))
    run.succeed({ note: password })
    const text = readFileSync(runFile(stateDir, job.jobId, run.runId), 'utf8')
    for (const secret of [password, 'sm8-Pa55', 'tops3cret']) {
      expect(text).not.toContain(secret)
      expect(seen.join('\n')).not.toContain(secret)
    }
    expect(text).toContain('smb://admin:***@nas/share')
    expect(text).toContain('login failed for root with password *** at https://root:***@10.0.0.1')
  })

  it('writes a progress value at most every progressPersistMs and the last one before the task ends', async () => {
    const stateDir = newStateDir()
    const clock = new FakeClock(T0)
    const { runLog } = RunLog.open({ stateDir, clock, progressPersistMs: 5000 })
    const emitted: unknown[] = []
    runLog.subscribe(({ event }) => {
      if (event.type === 'property') emitted.push(event.value)
    })
    const run = runLog.start(job)
    const transfer = run.child(TaskNames.transfer)
    for (let done = 1; done <= 20; done++) {
      transfer.setProgress(done * 100, 2000)
      await clock.advance(1000)
    }
    transfer.succeed({ size: 2000 })
    run.succeed()
    expect(emitted).toHaveLength(20)
    const written = fileEvents(stateDir, job.jobId, run.runId).flatMap((event) =>
      event.type === 'property' ? [(event.value as { done: number }).done] : [],
    )
    expect(written).toEqual([100, 600, 1100, 1600, 2000])
    expect(runLog.store.loadRun(job.jobId, run.runId).tasks.get(transfer.id)!.properties.progress).toEqual({
      done: 2000,
      total: 2000,
    })
  })

  it('ends pending subtasks as interrupted when a task ends, and ignores calls on ended tasks', () => {
    const stateDir = newStateDir()
    const { runLog } = RunLog.open({ stateDir, clock: new FakeClock(T0) })
    const run = runLog.start(job)
    const vm = run.child(TaskNames.vm, { vmUuid: 'a', name_label: 'a' })
    const transfer = vm.child(TaskNames.export).child(TaskNames.transfer)
    expect(run.interrupt(new InterruptedError())).toBe('interrupted')
    expect(transfer.status).toBe('interrupted')
    expect(transfer.closed).toBe(true)
    // A pipeline that did not stop: nothing more reaches the file.
    const before = readFileSync(runFile(stateDir, job.jobId, run.runId), 'utf8')
    transfer.setProgress(10)
    transfer.succeed({ size: 10 })
    vm.child(TaskNames.snapshot).succeed()
    vm.info('late')
    expect(vm.fail(new Error('late failure'))).toBeUndefined()
    expect(readFileSync(runFile(stateDir, job.jobId, run.runId), 'utf8')).toBe(before)
    const tree = runLog.store.loadRun(job.jobId, run.runId)
    expect(tree.pendingTasks()).toEqual([])
    expect([...tree.tasks.values()].map((task) => [task.name, task.status, task.error?.code])).toEqual([
      ['backup run', 'interrupted', 'INTERRUPTED'],
      ['backup VM', 'interrupted', 'INTERRUPTED'],
      ['export', 'interrupted', 'INTERRUPTED'],
      ['transfer', 'interrupted', 'INTERRUPTED'],
    ])
  })

  it('records a task that fails with the abort reason (also as the cause of an AbortError) as interrupted', () => {
    const { runLog } = RunLog.open({ stateDir: newStateDir(), clock: new FakeClock(T0) })
    const run = runLog.start(job)
    const controller = new AbortController()
    controller.abort(new InterruptedError())
    const abortError = Object.assign(new Error('The operation was aborted'), {
      name: 'AbortError',
      code: 'ABORT_ERR',
      cause: controller.signal.reason,
    })
    const vm = run.child(TaskNames.vm, { vmUuid: 'a', name_label: 'a' })
    expect(vm.fail(abortError)).toBe('interrupted')
    expect(runLog.store.loadRun(job.jobId, run.runId).tasks.get(vm.id)!.error!.code).toBe('INTERRUPTED')
    expect(run.succeed()).toBe('interrupted')
  })

  it('runs a subtask around a function with `task`', async () => {
    const { runLog } = RunLog.open({ stateDir: newStateDir(), clock: new FakeClock(T0) })
    const run = runLog.start(job)
    const size = await run.task(
      TaskNames.transfer,
      {},
      async () => 42,
      (bytes) => ({ size: bytes }),
    )
    expect(size).toBe(42)
    await expect(run.task(TaskNames.snapshot, {}, () => Promise.reject(xapiError('VDI_IN_USE')))).rejects.toThrow()
    run.succeed()
    const tasks = runLog.store.loadRun(job.jobId, run.runId).root!.tasks
    expect(tasks.map((task) => [task.name, task.status, task.result ?? task.error?.code])).toEqual([
      ['transfer', 'success', { size: 42 }],
      ['snapshot', 'failure', 'VDI_IN_USE'],
    ])
  })

  it('exports a finished run as one JSON document that reads back', () => {
    const { runLog } = RunLog.open({ stateDir: newStateDir(), clock: new FakeClock(T0) })
    const run = runLog.start(job)
    const vm = run.child(TaskNames.vm, { vmUuid: 'a', name_label: 'a' })
    expect(() => runDocument(runLog.activeRun(run.runId)!)).toThrow(RunNotFinishedError)
    vm.succeed()
    run.succeed()
    const document = runDocument(runLog.store.loadRun(job.jobId, run.runId))
    const parsed = parseRunDocument(JSON.parse(JSON.stringify(document)))
    expect(parsed.summary).toMatchObject({ runId: run.runId, status: 'success', jobName: 'nightly' })
    expect(parsed.root.tasks[0]!.properties).toEqual({ vmUuid: 'a', name_label: 'a' })
    expect(() => parseRunDocument({ ...document, version: 2 })).toThrow()
  })

  it('lists runs newest first and keeps listing them when the index is lost or damaged', async () => {
    const stateDir = newStateDir()
    const clock = new FakeClock(T0)
    const { runLog } = RunLog.open({ stateDir, clock })
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const run = runLog.start(job)
      ids.push(run.runId)
      run.succeed()
      await clock.advance(60_000)
    }
    const pending = runLog.start(job)
    const newestFirst = [pending.runId, ...ids.reverse()]
    expect(runLog.store.listRuns(job.jobId).runs.map((run) => run.summary.runId)).toEqual(newestFirst)
    writeFileSync(`${stateDir}/runs/job-1/index.json`, '{"format": "garbage"')
    expect(runLog.store.listRuns(job.jobId).runs.map((run) => run.summary.runId)).toEqual(newestFirst)
    expect(runLog.store.listRuns(job.jobId).runs[0]).toMatchObject({ summary: { status: 'pending' }, orphaned: false })
    expect(runLog.store.listJobs()).toEqual(['job-1'])
    expect(runLog.store.findRun(ids[0]!)).toBe('job-1')
  })

  it('keeps the newest runs per job and never prunes a pending one', async () => {
    const stateDir = newStateDir()
    const clock = new FakeClock(T0)
    const { runLog } = RunLog.open({ stateDir, clock, keepRuns: 2 })
    const pending = runLog.start(job)
    const other = runLog.start({ ...job, jobId: 'job 2 (other)/x' })
    other.succeed()
    const ids: string[] = []
    for (let i = 0; i < 4; i++) {
      await clock.advance(1000)
      const run = runLog.start(job)
      ids.push(run.runId)
      run.succeed()
    }
    expect(runLog.store.listRuns(job.jobId).runs.map((run) => run.summary.runId)).toEqual([
      ids[3],
      ids[2],
      pending.runId,
    ])
    expect(runLog.store.listRuns('job 2 (other)/x').runs).toHaveLength(1)
    expect(runLog.store.listJobs()).toEqual(['job 2 (other)/x', 'job-1'])
  })

  it('names the file and line of a damaged run file, and ignores a last line cut by a crash', () => {
    const stateDir = newStateDir()
    const { runLog } = RunLog.open({ stateDir, clock: new FakeClock(T0) })
    const run = runLog.start(job)
    run.succeed()
    const path = runFile(stateDir, job.jobId, run.runId)
    const complete = readFileSync(path, 'utf8')
    appendFileSync(path, '{"type":"info","id":"')
    expect(runLog.store.loadRun(job.jobId, run.runId).root!.status).toBe('success')
    const lines = complete.split('\n')
    writeFileSync(path, [lines[0], '{"type":"nonsense"}', ...lines.slice(1)].join('\n'))
    expect(() => runLog.store.loadRun(job.jobId, run.runId)).toThrow(RunLogFormatError)
    expect(() => runLog.store.loadRun(job.jobId, run.runId)).toThrow(`${path}, line 2: not a run log event`)
  })

  it('goes on in memory and reports once when the run file cannot be written', () => {
    const stateDir = newStateDir()
    const problems: Error[] = []
    const { runLog } = RunLog.open({
      stateDir,
      clock: new FakeClock(T0),
      onWriteError: (error) => problems.push(error),
    })
    writeFileSync(`${stateDir}/runs/job-1`, 'a file where the job directory should be')
    const run = runLog.start(job)
    run.child(TaskNames.vm, { vmUuid: 'a', name_label: 'a' }).succeed()
    expect(run.succeed()).toBe('success')
    expect(problems.length).toBeGreaterThanOrEqual(1)
    expect(problems[0]!.message).toMatch(/cannot be written .*the rest of this run is only in memory/)
  })

  it('refuses a state directory that cannot hold the run log, naming it', () => {
    const stateDir = newStateDir()
    writeFileSync(`${stateDir}/runs`, 'a file where the runs directory should be')
    expect(() => RunLog.open({ stateDir })).toThrow(`state directory ${stateDir} cannot hold the run log`)
  })
})

describe('status rules', () => {
  const task = (status: StatusInput['status'], extra: Partial<StatusInput> = {}): StatusInput => ({
    name: 'backup VM',
    status,
    properties: {},
    warnings: [],
    ...extra,
  })

  it('follows XO: failure beats everything, then interrupted, then skipped', () => {
    expect(deriveStatus('success', [])).toBe('success')
    expect(deriveStatus('success', [task('success'), task('skipped')])).toBe('skipped')
    expect(deriveStatus('success', [task('skipped'), task('failure')])).toBe('failure')
    expect(deriveStatus('success', [task('interrupted'), task('skipped')])).toBe('interrupted')
    expect(deriveStatus('success', [task('interrupted'), task('failure')])).toBe('failure')
    expect(deriveStatus('skipped', [task('success')])).toBe('skipped')
    expect(deriveStatus('failure', [task('success')])).toBe('failure')
    expect(deriveStatus('interrupted', [task('failure')])).toBe('interrupted')
    expect(deriveStatus('success', [task('pending')])).toBe('interrupted')
  })

  it('forgives a failed attempt that was retried successfully, and only then', () => {
    const retried = task('failure', {
      properties: { vmUuid: 'a' },
      warnings: [{ data: { isRetry: true, attempt: 1 } }],
    })
    expect(deriveStatus('success', [retried, task('success', { properties: { vmUuid: 'a' } })])).toBe('success')
    expect(deriveStatus('success', [retried, task('failure', { properties: { vmUuid: 'a' } })])).toBe('failure')
    expect(deriveStatus('success', [retried, task('success', { properties: { vmUuid: 'b' } })])).toBe('failure')
    const notMarked = task('failure', { properties: { vmUuid: 'a' } })
    expect(deriveStatus('success', [notMarked, task('success', { properties: { vmUuid: 'a' } })])).toBe('failure')
  })
})
