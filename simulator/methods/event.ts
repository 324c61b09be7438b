import type { SimulatorCore } from '../core'
import { eventsLost, type XapiRecord } from '../db/database'
import { simulatedClasses } from '../model/classes'
import type { XapiType } from '../model/types'
import { handleInvalid, sessionInvalid, XapiError } from '../rpc/errors'
import { defineMethod, type MethodSpec } from '../rpc/method'

/** A subscription of `event.from`: everything, a class, or one object (`vm/OpaqueRef:...`). */
type Subscription = { readonly kind: 'all' } | { readonly kind: 'class'; readonly cls: string; readonly ref?: string }

export interface XapiEvent {
  readonly id: string
  readonly timestamp: string
  readonly class: string
  readonly operation: 'add' | 'mod' | 'del'
  readonly ref: string
  readonly snapshot?: XapiRecord
}

const EVENT_FROM_RESULT: XapiType = {
  kind: 'struct',
  fields: {
    events: { kind: 'set', of: { kind: 'event' } },
    valid_ref_counts: { kind: 'map', key: { kind: 'string' }, value: { kind: 'int32' } },
    token: { kind: 'string' },
  },
}

/** XAPI's token: database generation and message generation, zero-padded so tokens sort as strings. */
export function formatToken(generation: number, messageGeneration: number): string {
  return `${String(generation).padStart(20, '0')},${String(messageGeneration).padStart(20, '0')}`
}

function parseToken(token: string): number {
  if (token === '') return 0
  const parts = token.split(',')
  if (parts.length !== 2 || !parts.every((part) => /^-?[0-9]+$/.test(part.trim()))) {
    throw new XapiError('EVENT_FROM_TOKEN_PARSE_FAILURE', [token])
  }
  // Messages live in the same database here, so the first half covers them too.
  return Math.max(0, Number(parts[0]))
}

function parseSubscription(text: string): Subscription {
  if (text === '*') return { kind: 'all' }
  const slash = text.indexOf('/')
  return slash === -1
    ? { kind: 'class', cls: text.toLowerCase() }
    : { kind: 'class', cls: text.slice(0, slash).toLowerCase(), ref: text.slice(slash + 1) }
}

function matches(subscriptions: readonly Subscription[], cls: string, ref: string): boolean {
  const lower = cls.toLowerCase()
  return subscriptions.some(
    (sub) => sub.kind === 'all' || (sub.cls === lower && (sub.ref === undefined || sub.ref === ref)),
  )
}

/** Coalesced events since `since`: one per object, `add` if created since, `del` only if it existed before. */
function collectEvents(core: SimulatorCore, subscriptions: readonly Subscription[], since: number): XapiEvent[] {
  const { changed, deleted } = core.db.changesSince(since)
  const events: XapiEvent[] = []
  for (const tombstone of deleted) {
    if (tombstone.created > since || !matches(subscriptions, tombstone.cls, tombstone.ref)) continue
    events.push(event(tombstone.deleted, tombstone.cls, 'del', tombstone.ref))
  }
  for (const object of changed) {
    if (!matches(subscriptions, object.cls, object.ref)) continue
    const operation = object.created > since ? 'add' : 'mod'
    events.push(event(object.modified, object.cls, operation, object.ref, object.record))
  }
  return events
}

function event(
  generation: number,
  cls: string,
  operation: XapiEvent['operation'],
  ref: string,
  snapshot?: XapiRecord,
): XapiEvent {
  const base = { id: String(generation), timestamp: '0.0', class: cls.toLowerCase(), operation, ref }
  return snapshot === undefined ? base : { ...base, snapshot }
}

/** Object counts per lowercase class, for every table (the xen-api client checks `task`). */
function validRefCounts(core: SimulatorCore): Record<string, number> {
  const counts: Record<string, number> = { session: core.sessions.count }
  for (const schema of simulatedClasses) {
    if (schema.name === 'message') continue // not a database table in XAPI
    counts[schema.name.toLowerCase()] = core.db.count(schema.name)
  }
  return counts
}

export const eventMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'event.inject',
    params: [
      ['class', 'string'],
      ['ref', 'string'],
    ],
    result: 'string',
    handler: (ctx, [cls, ref]) => {
      const { db } = ctx.core
      if (db.classOf(ref) !== cls) throw handleInvalid(cls, ref)
      const before = db.generation
      db.touch(cls, ref)
      return formatToken(Math.max(0, before - 1), 0)
    },
  }),
  defineMethod({
    name: 'event.from',
    params: [
      ['classes', 'string set'],
      ['token', 'string'],
      ['timeout', 'float'],
    ],
    result: EVENT_FROM_RESULT,
    handler: async (ctx, [classes, token, timeout]) => {
      const { core, session } = ctx
      const subscriptions = classes.map(parseSubscription)
      let since = parseToken(token)
      if (since < core.db.historyStart) throw eventsLost()
      const deadline = Date.now() + Math.max(0, timeout) * 1000
      const ended = AbortSignal.any([session!.ended.signal, ctx.signal])
      for (;;) {
        const scanned = core.db.generation
        const events = collectEvents(core, subscriptions, since)
        if (events.length > 0 || Date.now() >= deadline) {
          return { events, valid_ref_counts: validRefCounts(core), token: formatToken(scanned, scanned) }
        }
        since = scanned
        const outcome = await core.notifier.waitForChangeAfter(scanned, deadline - Date.now(), ended)
        if (outcome === 'aborted') {
          if (session!.ended.signal.aborted) throw sessionInvalid(session!.ref)
          throw ctx.signal.reason
        }
      }
    },
  }),
  defineMethod({
    name: 'event.get_current_id',
    params: [],
    result: 'int',
    handler: (ctx) => ctx.core.db.generation,
  }),
]
