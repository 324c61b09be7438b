import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { checkWith, formatPath } from '../../provider/policy'
import { strictObject } from '../../provider/policy/fields'
import { closest, editDistance, listOf } from '../../provider/policy/suggest'

describe('formatPath', () => {
  it.each([
    [[], ''],
    [['name'], 'name'],
    [['schedules', 1, 'cron'], 'schedules[1].cron'],
    [['options', 'mount options'], 'options["mount options"]'],
    [['options', 'a"b'], 'options["a\\"b"]'],
    [['vms', 'list', 0], 'vms.list[0]'],
  ])('%j → %s', (path, text) => {
    expect(formatPath(path)).toBe(text)
  })
})

describe('suggestions', () => {
  it('suggest a close key and nothing for a distant one', () => {
    const keys = ['exportRetention', 'copyRetention', 'snapshotRetention', 'timezone', 'cron', 'name']
    expect(closest('exportRetenion', keys)).toBe('exportRetention')
    expect(closest('snapshotretention', keys)).toBe('snapshotRetention')
    expect(closest('timezne', keys)).toBe('timezone')
    expect(closest('crno', keys)).toBe('cron')
    expect(closest('retention', keys)).toBeUndefined()
    expect(closest('foo', keys)).toBeUndefined()
    expect(editDistance('ab', 'ba')).toBe(1)
    expect(editDistance('kitten', 'sitting')).toBe(3)
  })

  it('list allowed values readably', () => {
    expect(listOf(['a'])).toBe('"a"')
    expect(listOf(['a', 'b'])).toBe('"a" or "b"')
    expect(listOf(['a', 'b', 'c'], 'and')).toBe('"a", "b" and "c"')
  })
})

describe('check failures from any schema', () => {
  const schema = strictObject({
    rate: z.union([z.number().int().min(0), z.string().regex(/^\d+B$/, { error: 'must be like "10B"' })]),
    items: z.array(z.number()).optional(),
  })

  it('picks the union branch the value was meant for', () => {
    expect(checkWith(schema, { rate: 'fast' })).toEqual({
      ok: false,
      failures: [{ property: 'rate', reason: 'must be like "10B"' }],
    })
    expect(checkWith(schema, { rate: -1 })).toEqual({
      ok: false,
      failures: [{ property: 'rate', reason: 'must be at least 0 (got -1)' }],
    })
    expect(checkWith(schema, { rate: null })).toEqual({
      ok: false,
      failures: [{ property: 'rate', reason: 'expected a number or a string, got null' }],
    })
  })

  it('splits several unknown keys into one failure each', () => {
    expect(checkWith(schema, { rate: 1, rte: 2, itemz: [] })).toEqual({
      ok: false,
      failures: [
        { property: 'rte', reason: 'unknown property "rte": did you mean "rate"?' },
        { property: 'itemz', reason: 'unknown property "itemz": did you mean "items"?' },
      ],
    })
  })

  it('names list elements', () => {
    expect(checkWith(schema, { rate: 1, items: [1, 'x', 3] })).toEqual({
      ok: false,
      failures: [{ property: 'items[1]', reason: 'expected a number, got a string' }],
    })
  })
})
