import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { RunLog, TaskNames } from '../../../provider/runner/log'
import { attachProgressDisplay, formatBytes, formatElapsed } from '../../../provider/runner/progress'
import { FakeClock } from './helpers/fake-clock'
import { useStateDirs, xapiError } from './helpers/state-dir'

const newStateDir = useStateDirs()
const MiB = 2 ** 20
const GiB = 2 ** 30

class Capture extends Writable {
  text = ''
  constructor(readonly isTTY = false) {
    super()
  }
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.text += chunk.toString()
    callback()
  }
}

/** A two-VM run: web-1 snapshots and transfers 1 GiB in 20 s, db-1 fails its snapshot for lack of space. */
async function scriptedRun(runLog: RunLog, clock: FakeClock): Promise<void> {
  const run = runLog.start({
    jobId: 'job-1',
    jobName: 'nightly',
    scheduleId: 's',
    scheduleName: 'daily',
    mode: 'delta',
  })
  const web = run.child(TaskNames.vm, { vmUuid: 'uuid-web', name_label: 'web-1' })
  const db = run.child(TaskNames.vm, { vmUuid: 'uuid-db', name_label: 'db-1' })
  const snapshot = web.child(TaskNames.snapshot)
  await clock.advance(3000)
  snapshot.succeed('snap-1')
  db.child(TaskNames.snapshot).fail(xapiError('SR_BACKEND_FAILURE_44'))
  db.succeed()
  const exported = web.child(TaskNames.export, { id: 'nas', type: 'remote', isFull: true })
  exported.warning('Backup fell back to a full')
  const transfer = exported.child(TaskNames.transfer)
  for (let second = 1; second <= 20; second++) {
    await clock.advance(1000)
    transfer.setProgress((second * GiB) / 20, GiB)
  }
  transfer.succeed({ size: GiB })
  exported.succeed()
  web.succeed()
  run.succeed()
}

describe('progress display', () => {
  it('prints one line per change in plain mode, and a summary with what to do', async () => {
    const clock = new FakeClock(Date.parse('2026-06-01T03:00:00Z'))
    const { runLog } = RunLog.open({ stateDir: newStateDir(), clock })
    const output = new Capture()
    const display = attachProgressDisplay(runLog, { output, mode: 'plain', timeZone: 'UTC', clock })
    await scriptedRun(runLog, clock)
    await display.done
    const runId = runLog.store.listRuns('job-1').runs[0]!.summary.runId
    expect(output.text).toBe(
      [
        `[03:00:00] nightly (schedule daily, delta): run ${runId} started`,
        '[03:00:00] web-1: started',
        '[03:00:00] db-1: started',
        '[03:00:00] web-1: snapshot',
        '[03:00:03] web-1: snapshot: success (3s)',
        '[03:00:03] db-1: snapshot',
        '[03:00:03] db-1: snapshot: failure: SR_BACKEND_FAILURE_44: Not enough space on the storage repository (0s)',
        '[03:00:03] db-1: failure (3s)',
        '[03:00:03] web-1: export nas',
        '[03:00:03] web-1: warning: Backup fell back to a full',
        '[03:00:03] web-1: export nas › transfer',
        '[03:00:05] web-1: export nas › transfer 10% 102 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:07] web-1: export nas › transfer 20% 205 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:09] web-1: export nas › transfer 30% 307 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:11] web-1: export nas › transfer 40% 410 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:13] web-1: export nas › transfer 50% 512 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:15] web-1: export nas › transfer 60% 614 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:17] web-1: export nas › transfer 70% 717 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:19] web-1: export nas › transfer 80% 819 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:21] web-1: export nas › transfer 90% 922 MiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:23] web-1: export nas › transfer 100% 1.0 GiB / 1.0 GiB, 51.2 MiB/s',
        '[03:00:23] web-1: export nas › transfer: success, 1.0 GiB in 20s, 51.2 MiB/s',
        '[03:00:23] web-1: export nas: success (20s)',
        '[03:00:23] web-1: success (23s)',
        '[03:00:23] nightly: failure in 23s; 2 VMs: 1 success, 1 failure; 1.0 GiB transferred',
        '  db-1: SR_BACKEND_FAILURE_44: Not enough space on the storage repository',
        '    what to do: Free space on the SR, or move some VM disks to another SR. (more: xcp-backup explain SR_BACKEND_FAILURE_44)',
        '',
      ].join('\n'),
    )
  })

  it('redraws a live block on a terminal, prints finished VMs above it, and ends with the summary', async () => {
    const clock = new FakeClock(Date.parse('2026-06-01T03:00:00Z'))
    const { runLog } = RunLog.open({ stateDir: newStateDir(), clock })
    const output = new Capture(true)
    const snapshots: string[] = []
    const display = attachProgressDisplay(runLog, { output, timeZone: 'UTC', clock, redrawMs: 500 })
    const run = runLog.start({
      jobId: 'job-1',
      jobName: 'nightly',
      scheduleId: 's',
      scheduleName: 'daily',
      mode: 'delta',
    })
    const web = run.child(TaskNames.vm, { vmUuid: 'uuid-web', name_label: 'web-1' })
    const exported = web.child(TaskNames.export, { id: 'nas' })
    const transfer = exported.child(TaskNames.transfer)
    transfer.setProgress(0, GiB)
    await clock.advance(2000)
    transfer.setProgress(100 * MiB, GiB)
    await clock.advance(500)
    snapshots.push(output.text)
    expect(output.text).toContain('nightly (daily, delta) 2s: 0/1 VMs done, 0 B transferred')
    expect(output.text).toContain('  web-1  export nas › transfer  100 MiB / 1.0 GiB 9%  50.0 MiB/s')
    transfer.succeed({ size: GiB })
    exported.succeed()
    expect(output.text).toBe(snapshots[0]) // not redrawn before redrawMs
    web.succeed()
    expect(output.text.slice(snapshots[0]!.length)).toBe(
      '\x1b[2F\x1b[J[03:00:02] web-1: success (2s)\nnightly (daily, delta) 2s: 1/1 VMs done, 1.0 GiB transferred\n',
    )
    run.succeed()
    await display.done
    // The last redraw erases the block (cursor up one line, clear) and leaves the summary.
    expect(
      output.text.endsWith('\x1b[1F\x1b[J[03:00:02] nightly: success in 2s; 1 VM: 1 success; 1.0 GiB transferred\n'),
    ).toBe(true)
  })

  it('formats sizes and durations for people', () => {
    expect([0, 1023, 1536, 100 * MiB, 1.5 * GiB, 300 * GiB].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.5 KiB',
      '100 MiB',
      '1.5 GiB',
      '300 GiB',
    ])
    expect([0, 999, 61_000, 3_723_000].map(formatElapsed)).toEqual(['0s', '0s', '1m1s', '1h2m3s'])
  })
})
