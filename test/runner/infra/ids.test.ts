import { describe, expect, it } from 'vitest'
import {
  isRunId,
  nameBasedUuid,
  newRunId,
  runIdTime,
  SCHEDULE_ID_NAMESPACE,
  scheduleId,
} from '../../../provider/runner/ids'

describe('schedule ids', () => {
  it('are name-based UUIDs (version 5) that never change for a job and schedule name', () => {
    // Vectors from Python's uuid.uuid5 with the same namespace: an independent implementation.
    expect(SCHEDULE_ID_NAMESPACE).toBe('a3d4b1e6-5c0f-4f7e-9b2a-6e1d8c3f0b57')
    expect(scheduleId('job-1', 'daily')).toBe('96ce4d4f-d340-532b-bfeb-54236ddae095')
    expect(scheduleId('0f6c7a1e-2b3c-4d5e-8f90-a1b2c3d4e5f6', 'nightly')).toBe('375d4f7d-388f-5454-9bb7-43e2050c4f4a')
    expect(scheduleId('nightly', 'weekly full (Sunday)')).toBe('fdcb9332-16bd-59d3-8059-44730503be9a')
    expect(scheduleId('tâche', 'quotidien')).toBe('d4f57642-5acc-5f79-b06a-ecc0ada734f8')
  })

  it('differ between schedules and jobs, and keep the separator meaningful', () => {
    expect(scheduleId('job-1', 'Daily')).not.toBe(scheduleId('job-1', 'daily'))
    expect(scheduleId('job-2', 'daily')).not.toBe(scheduleId('job-1', 'daily'))
  })

  it('follow RFC 9562 (the DNS namespace vector)', () => {
    expect(nameBasedUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org')).toBe(
      '886313e1-3b8a-5372-9b90-0c9aee199e5d',
    )
    expect(() => nameBasedUuid('not-a-uuid', 'x')).toThrow('is not a UUID')
  })
})

describe('run ids', () => {
  it('start with the time in base 36 and sort by time', () => {
    const at = Date.parse('2026-06-01T03:00:00Z')
    const id = newRunId(at)
    expect(isRunId(id)).toBe(true)
    expect(id.slice(0, 9)).toBe(at.toString(36).padStart(9, '0'))
    expect(runIdTime(id)).toBe(at)
    const later = newRunId(at + 1)
    expect(later > id).toBe(true)
    expect(isRunId('0mpumew00-XYZ')).toBe(false)
  })

  it('made in the same millisecond sort in the order they were made, and are distinct', () => {
    const at = Date.parse('2026-06-01T03:00:00Z')
    const ids = Array.from({ length: 1000 }, () => newRunId(at))
    expect(new Set(ids).size).toBe(1000)
    expect([...ids].sort()).toEqual(ids)
  })
})
