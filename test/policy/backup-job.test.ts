import { describe, expect, it } from 'vitest'
import { type BackupJobInput, type CheckFailure, checkPolicy, PolicyError, parsePolicy } from '../../provider/policy'

/** The quickstart's job: every night, VMs tagged backup:nightly, deltas to the NAS. */
const nightly: BackupJobInput = {
  name: 'nightly',
  mode: 'delta',
  vms: { select: 'smart', tags: ['backup:nightly'] },
  remotes: ['nas'],
  schedules: [{ name: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Paris', exportRetention: 14, fullInterval: 7 }],
}

const weeklyFull: BackupJobInput = {
  name: 'weekly full',
  mode: 'full',
  compression: 'zstd',
  vms: { select: 'explicit', list: ['db-1', '0f6c7a1e-2b3c-4d5e-8f90-a1b2c3d4e5f6'] },
  remotes: ['s3-archive'],
  schedules: [
    {
      name: 'sunday',
      cron: '0 1 * * sun',
      timezone: 'America/New_York',
      exportRetention: 4,
      longTermRetention: { monthly: 12, yearly: 3 },
    },
  ],
  settings: { concurrency: 1, maxExportRate: '100MiB/s', timeout: '360m' },
}

function failures(input: unknown): CheckFailure[] {
  const result = checkPolicy('BackupJob', input)
  if (result.ok) throw new Error('expected the job to be refused')
  return result.failures
}

/** The failure at one property; fails the test when there is not exactly one there. */
function failureAt(input: unknown, property: string): string {
  const found = failures(input).filter((failure) => failure.property === property)
  expect(found, JSON.stringify(failures(input))).toHaveLength(1)
  return found[0]!.reason
}

function withSchedule(overrides: Record<string, unknown>, job: BackupJobInput = nightly): BackupJobInput {
  return { ...job, schedules: [{ ...job.schedules[0]!, ...overrides }] } as BackupJobInput
}

describe('BackupJob: valid jobs', () => {
  it('fills every default of the quickstart job', () => {
    expect(parsePolicy('BackupJob', nightly)).toEqual({
      name: 'nightly',
      mode: 'delta',
      vms: {
        select: 'smart',
        pools: [],
        powerState: 'any',
        tags: ['backup:nightly'],
        excludeTags: ['Continuous Replication', 'Disaster Recovery'],
      },
      remotes: ['nas'],
      replicationTargets: [],
      compression: 'none',
      schedules: [
        {
          name: 'nightly',
          cron: '0 2 * * *',
          timezone: 'Europe/Paris',
          enabled: true,
          exportRetention: 14,
          copyRetention: 0,
          snapshotRetention: 0,
          fullInterval: 7,
        },
      ],
      settings: {
        concurrency: 2,
        snapshotConcurrency: 2,
        vdiExportConcurrency: 12,
        xvaExportConcurrency: 2,
        offlineSnapshot: false,
        offlineBackup: false,
        checkpointSnapshot: false,
        maxExportRate: 0,
        retries: 0,
        deleteFirst: false,
        maxUncoalescedVdis: 1,
      },
    })
  })

  it('accepts a weekly full job with zstd, long-term retention, a rate and a timeout (canonical units)', () => {
    const job = parsePolicy('BackupJob', weeklyFull)
    expect(job.compression).toBe('zstd')
    expect(job.settings.maxExportRate).toBe(100 * 1024 * 1024)
    expect(job.settings.timeout).toBe('6h')
    expect(job.schedules[0]!.longTermRetention).toEqual({ daily: 0, weekly: 0, monthly: 12, yearly: 3 })
    expect(job.vms).toEqual({ select: 'explicit', list: ['0f6c7a1e-2b3c-4d5e-8f90-a1b2c3d4e5f6', 'db-1'] })
  })

  it('accepts continuous replication, rolling snapshots and several schedules in one job', () => {
    const job = parsePolicy('BackupJob', {
      name: 'db (replicated)',
      mode: 'delta',
      vms: { select: 'smart', pools: ['prod'], powerState: 'Running', tags: ['db'], excludeTags: ['scratch'] },
      remotes: ['nas'],
      replicationTargets: ['dr-site'],
      schedules: [
        { name: 'hourly', cron: '0 * * * *', snapshotRetention: 24, copyRetention: 2 },
        { name: 'daily', cron: '@daily', exportRetention: 7, enabled: false },
      ],
      settings: {
        checkpointSnapshot: true,
        retries: 2,
        healthCheck: { sr: 'Local storage', vmsWithTags: ['db'] },
      },
    })
    expect(job.schedules.map((schedule) => schedule.name)).toEqual(['daily', 'hourly'])
    expect(job.schedules[0]!.cron).toBe('@daily')
    expect(job.settings.healthCheck).toEqual({ sr: 'Local storage', vmsWithTags: ['db'], timeout: '10m' })
  })

  it('accepts a snapshot-only job and compression "none" in delta mode', () => {
    const result = checkPolicy('BackupJob', {
      name: 'snapshots',
      mode: 'delta',
      compression: 'none',
      vms: { select: 'explicit', list: ['web-1'] },
      schedules: [{ name: 'hourly', cron: '0 * * * *', snapshotRetention: 6 }],
    })
    expect(result.ok).toBe(true)
  })
})

describe('BackupJob: every field error names its path and what is allowed', () => {
  it.each([
    [{ name: undefined }, 'name', 'is required: expected a string'],
    [{ name: ' nightly' }, 'name', /must be 1 to 64 characters/],
    [{ name: 'a'.repeat(65) }, 'name', /must be 1 to 64 characters/],
    [{ mode: 'fulll' }, 'mode', '"fulll" is not allowed: expected "full" or "delta" (did you mean "full"?)'],
    [{ mode: undefined }, 'mode', 'is required: expected "full" or "delta"'],
    [{ vms: undefined }, 'vms', /is required/],
    [
      { vms: { select: 'smrt' } },
      'vms.select',
      /"smrt" is not allowed: expected "explicit" or "smart" \(did you mean "smart"\?\)/,
    ],
    [{ vms: { tags: ['x'] } }, 'vms.select', 'is required: expected "explicit" or "smart"'],
    [{ vms: { select: 'explicit', list: [] } }, 'vms.list', 'must list at least one entry'],
    [{ vms: { select: 'explicit', list: ['a', 'b', 'a'] } }, 'vms.list[2]', '"a" is listed twice in list'],
    [{ vms: { select: 'explicit', list: [''] } }, 'vms.list[0]', 'must not be empty'],
    [
      { vms: { select: 'smart', powerState: 'running' } },
      'vms.powerState',
      '"running" is not allowed: expected "Running", "Halted" or "any" (did you mean "Running"?)',
    ],
    [{ vms: { select: 'smart', tags: [' prod'] } }, 'vms.tags[0]', /non-empty tag without leading or trailing blanks/],
    [{ remotes: ['nas', 'nas'] }, 'remotes[1]', '"nas" is listed twice in remotes'],
    [{ remotes: 'nas' }, 'remotes', 'expected a list, got a string'],
    [{ compression: 'lz4' }, 'compression', '"lz4" is not allowed: expected "none", "gzip" or "zstd"'],
    [{ schedules: [] }, 'schedules', 'must list at least one entry'],
    [{ settings: { concurrency: -1 } }, 'settings.concurrency', 'must be at least 0 (got -1)'],
    [{ settings: { snapshotConcurrency: 0 } }, 'settings.snapshotConcurrency', 'must be at least 1 (got 0)'],
    [{ settings: { maxUncoalescedVdis: 30 } }, 'settings.maxUncoalescedVdis', 'must be at most 29 (got 30)'],
    [{ settings: { offlineBackup: 'yes' } }, 'settings.offlineBackup', 'expected true or false, got a string'],
    [
      { settings: { timeout: '4 hours' } },
      'settings.timeout',
      /"4 hours" is not a duration such as "45s", "10m", "4h"/,
    ],
    [{ settings: { maxExportRate: '100Mb/s' } }, 'settings.maxExportRate', /is in bits/],
    [{ settings: { maxExportRate: -1 } }, 'settings.maxExportRate', 'must be at least 0 (got -1)'],
    [{ settings: { maxExportRate: true } }, 'settings.maxExportRate', 'expected a number or a string, got true'],
    [{ settings: { healthCheck: {} } }, 'settings.healthCheck.sr', 'is required: expected a string'],
    [{ settings: { healthCheck: { sr: 'x', timeout: '0s' } } }, 'settings.healthCheck.timeout', /is not a duration/],
  ])('%j → %s', (change, property, reason) => {
    const message = failureAt({ ...nightly, ...change }, property)
    if (typeof reason === 'string') expect(message).toBe(reason)
    else expect(message).toMatch(reason)
  })

  it.each([
    [{ cron: '*/5 * * *' }, 'schedules[0].cron', /expected 5 fields \(minute hour day-of-month month day-of-week\)/],
    [{ cron: undefined }, 'schedules[0].cron', 'is required: expected a string'],
    [{ timezone: 'Europe/Pari' }, 'schedules[0].timezone', /did you mean "Europe\/Paris"\?/],
    [{ exportRetention: 1.5 }, 'schedules[0].exportRetention', 'expected a whole number, got a fraction (1.5)'],
    [{ exportRetention: '7' }, 'schedules[0].exportRetention', 'expected a number, got a string'],
    [{ copyRetention: -2 }, 'schedules[0].copyRetention', 'must be at least 0 (got -2)'],
    [{ enabled: 1 }, 'schedules[0].enabled', 'expected true or false, got a number'],
    [
      { longTermRetention: { daily: 7, weakly: 4 } },
      'schedules[0].longTermRetention.weakly',
      /did you mean "weekly"\?/,
    ],
    [{ name: 'night/ly' }, 'schedules[0].name', /must be 1 to 64 characters/],
  ])('schedule %j → %s', (change, property, reason) => {
    const message = failureAt(withSchedule(change), property)
    if (typeof reason === 'string') expect(message).toBe(reason)
    else expect(message).toMatch(reason)
  })

  it('names each unknown key at its own path and suggests the closest valid one', () => {
    const result = failures({
      ...nightly,
      replicationTarget: ['dr'],
      settings: { concurency: 4, foo: 1 },
      schedules: [{ ...nightly.schedules[0], exportRetenion: 7 }],
    })
    expect(result).toEqual(
      expect.arrayContaining([
        {
          property: 'replicationTarget',
          reason: 'unknown property "replicationTarget": did you mean "replicationTargets"?',
        },
        { property: 'settings.concurency', reason: 'unknown property "concurency": did you mean "concurrency"?' },
        {
          property: 'settings.foo',
          reason: expect.stringMatching(/^unknown property "foo": expected "concurrency", "snapshotConcurrency", /),
        },
        {
          property: 'schedules[0].exportRetenion',
          reason: 'unknown property "exportRetenion": did you mean "exportRetention"?',
        },
      ]),
    )
    expect(result).toHaveLength(4)
  })

  it('reports all structural errors at once', () => {
    const result = failures({ ...nightly, mode: 'x', compression: 'y', schedules: [{ name: 'n', cron: 'bad' }] })
    expect(result.map((failure) => failure.property)).toEqual(['mode', 'compression', 'schedules[0].cron'])
  })

  it('refuses what is not an object', () => {
    expect(failures('nightly')).toEqual([{ property: '', reason: 'expected an object, got a string' }])
  })
})

describe('BackupJob: contradictions are refused with the reason', () => {
  it('compression in delta mode (XO ignores it silently)', () => {
    expect(failureAt({ ...nightly, compression: 'zstd' }, 'compression')).toMatch(
      /^compression applies to full \(XVA\) exports only: delta backups are stored as uncompressed VHDs/,
    )
  })

  it('fullInterval in full mode', () => {
    expect(failureAt(withSchedule({ fullInterval: 3 }, weeklyFull), 'schedules[0].fullInterval')).toMatch(
      /in full mode every backup is already full/,
    )
  })

  it('offlineBackup with snapshotRetention > 0 (XO asserts this)', () => {
    const job = { ...withSchedule({ snapshotRetention: 2 }), settings: { offlineBackup: true } }
    expect(failureAt(job, 'schedules[0].snapshotRetention')).toMatch(/offlineBackup .* keeps no snapshot/)
  })

  it('offlineBackup with offlineSnapshot, checkpointSnapshot with either', () => {
    const both = { ...nightly, settings: { offlineBackup: true, offlineSnapshot: true } }
    expect(failureAt(both, 'settings.offlineSnapshot')).toMatch(/offlineSnapshot has no effect/)
    const ram = { ...nightly, settings: { offlineSnapshot: true, checkpointSnapshot: true } }
    expect(failureAt(ram, 'settings.checkpointSnapshot')).toMatch(/RAM of a running VM, but offlineSnapshot shuts/)
  })

  it('duplicate schedule names', () => {
    const job = { ...nightly, schedules: [nightly.schedules[0], { ...nightly.schedules[0], cron: '0 12 * * *' }] }
    expect(failureAt(job, 'schedules[1].name')).toMatch(/schedule name "nightly" is used twice/)
  })

  it('a job that would do nothing', () => {
    const job = { ...withSchedule({ exportRetention: 0 }), remotes: [] }
    expect(failures(job)).toEqual([
      {
        property: 'remotes',
        reason:
          'the job would do nothing: list remotes (and set exportRetention), replicationTargets (and set copyRetention), or keep snapshots (snapshotRetention > 0) in a schedule',
      },
    ])
  })

  it('remotes nobody writes to, and exportRetention with no remote', () => {
    expect(failureAt(withSchedule({ exportRetention: 0, snapshotRetention: 1 }), 'remotes')).toMatch(
      /no schedule has exportRetention > 0/,
    )
    const noRemote = { ...withSchedule({ snapshotRetention: 1 }), remotes: [] }
    expect(failureAt(noRemote, 'schedules[0].exportRetention')).toMatch(/the job lists no remotes/)
  })

  it('replication targets nobody replicates to, and copyRetention with no target', () => {
    expect(failureAt({ ...nightly, replicationTargets: ['dr'] }, 'replicationTargets')).toMatch(
      /no schedule has copyRetention > 0/,
    )
    expect(failureAt(withSchedule({ copyRetention: 2 }), 'schedules[0].copyRetention')).toMatch(
      /lists no replicationTargets/,
    )
  })

  it('a schedule that keeps nothing', () => {
    const job = { ...nightly, schedules: [nightly.schedules[0], { name: 'noon', cron: '0 12 * * *' }] }
    expect(failureAt(job, 'schedules[1]')).toBe(
      'schedule "noon" keeps nothing: set exportRetention, copyRetention or snapshotRetention',
    )
  })

  it('long-term retention without exportRetention (a zero one is fine)', () => {
    const job = { ...withSchedule({ exportRetention: 0, snapshotRetention: 3, longTermRetention: { weekly: 4 } }) }
    expect(failures(job)).toContainEqual({
      property: 'schedules[0].longTermRetention',
      reason:
        'longTermRetention keeps extra backups on remotes, on top of exportRetention: set exportRetention to at least 1',
    })
    expect(checkPolicy('BackupJob', withSchedule({ longTermRetention: { weekly: 0 } })).ok).toBe(true)
  })

  it('a health check with nothing to restore', () => {
    const job = {
      ...withSchedule({ exportRetention: 0, snapshotRetention: 3 }),
      remotes: [],
      settings: { healthCheck: { sr: 'Local storage' } },
    }
    expect(failureAt(job, 'settings.healthCheck')).toMatch(/this job has neither/)
  })

  it('smart tags that can select nothing', () => {
    const noBak = { ...nightly, vms: { select: 'smart', tags: ['prod', 'xo:no-bak=old'] } }
    expect(failureAt(noBak, 'vms.tags[1]')).toMatch(/never backed up, so including them selects nothing/)
    const both = { ...nightly, vms: { select: 'smart', tags: ['prod'], excludeTags: ['prod'] } }
    expect(failureAt(both, 'vms.tags[0]')).toMatch(/both included and excluded; exclusion wins/)
  })
})

describe('BackupJob: canonical form', () => {
  const messy: BackupJobInput = {
    name: 'messy',
    mode: 'delta',
    vms: { select: 'smart', pools: ['b', 'a'], tags: ['z', 'y'], excludeTags: ['2', '1'] },
    remotes: ['r2', 'r1'],
    replicationTargets: ['t2', 't1'],
    schedules: [
      { name: 'zeta', cron: '0  3 * * *', exportRetention: 1, copyRetention: 1, longTermRetention: { daily: 0 } },
      { name: 'alpha', cron: '@Hourly', snapshotRetention: 2 },
    ],
    settings: { healthCheck: { sr: 'sr', vmsWithTags: ['b', 'a'] }, timeout: '90m' },
  }

  it('sorts what has no order, drops a long-term retention that keeps nothing, spells values one way', () => {
    const job = parsePolicy('BackupJob', messy)
    expect(job.vms).toEqual({
      select: 'smart',
      pools: ['a', 'b'],
      powerState: 'any',
      tags: ['y', 'z'],
      excludeTags: ['1', '2'],
    })
    expect(job.remotes).toEqual(['r1', 'r2'])
    expect(job.replicationTargets).toEqual(['t1', 't2'])
    expect(job.schedules.map((s) => [s.name, s.cron])).toEqual([
      ['alpha', '@hourly'],
      ['zeta', '0 3 * * *'],
    ])
    expect(job.schedules[1]).not.toHaveProperty('longTermRetention')
    expect(job.settings.healthCheck?.vmsWithTags).toEqual(['a', 'b'])
    expect(job.settings.timeout).toBe('1h30m')
  })

  it('is idempotent and its output is a valid input', () => {
    const once = parsePolicy('BackupJob', messy)
    expect(parsePolicy('BackupJob', once)).toEqual(once)
    expect(JSON.stringify(parsePolicy('BackupJob', JSON.parse(JSON.stringify(once))))).toBe(JSON.stringify(once))
  })

  it('parsePolicy throws a PolicyError listing every failure', () => {
    expect(() => parsePolicy('BackupJob', { ...nightly, mode: 'x', compression: 'y' })).toThrow(PolicyError)
    try {
      parsePolicy('BackupJob', { ...nightly, mode: 'x' })
    } catch (error) {
      expect((error as PolicyError).code).toBe('INVALID_POLICY')
      expect((error as Error).message).toBe('invalid BackupJob: mode: "x" is not allowed: expected "full" or "delta"')
    }
  })
})
