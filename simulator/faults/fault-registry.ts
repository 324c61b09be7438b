import { randomUUID } from 'node:crypto'
import { type FaultRule, type FaultRuleInput, type FaultStatus, faultRuleSchema } from './fault-rules'

/** Where a call can be hit: the channel, its wire name (`Async.VM.start`), its name without `Async.`. */
export interface FaultPoint {
  readonly channel: 'rpc' | 'http'
  readonly wireName: string
  readonly name: string
  readonly refs: readonly string[]
}

export interface MatchedFault {
  readonly id: string
  readonly rule: FaultRule
}

interface ActiveRule {
  readonly id: string
  readonly rule: FaultRule
  readonly pattern: RegExp
  seen: number
  hits: number
}

/**
 * Scripted faults. Each rule counts the calls it matches and hits the `nth` to `nth + times - 1`;
 * the first rule (in the order they were added) that hits a call decides what happens to it.
 */
export class FaultRegistry {
  readonly #rules: ActiveRule[] = []
  readonly #stuck = new Set<{ readonly ruleId: string; readonly release: () => void }>()

  add(input: FaultRuleInput): string {
    const rule = faultRuleSchema.parse(input)
    const id = randomUUID()
    this.#rules.push({ id, rule, pattern: globToRegExp(rule.method), seen: 0, hits: 0 })
    return id
  }

  remove(id: string): boolean {
    const index = this.#rules.findIndex((rule) => rule.id === id)
    if (index === -1) return false
    this.#rules.splice(index, 1)
    return true
  }

  /** Removes every rule and releases every stuck call. */
  clear(): void {
    this.#rules.length = 0
    this.release()
  }

  list(): FaultStatus[] {
    return this.#rules.map(({ id, rule, seen, hits }) => ({ id, rule, seen, hits }))
  }

  /** Counts the call against every matching rule and returns the rule that hits it, if any. */
  match(point: FaultPoint): MatchedFault | undefined {
    let hit: MatchedFault | undefined
    for (const active of this.#rules) {
      const { rule } = active
      if (rule.channel !== point.channel) continue
      const subject = rule.method.startsWith('Async.') ? point.wireName : point.name
      if (!active.pattern.test(subject)) continue
      if (rule.objectRef !== undefined && !point.refs.includes(rule.objectRef)) continue
      active.seen++
      const limit = rule.times === 'always' ? Number.POSITIVE_INFINITY : rule.nth + rule.times - 1
      if (hit === undefined && active.seen >= rule.nth && active.seen <= limit) {
        active.hits++
        hit = { id: active.id, rule }
      }
    }
    return hit
  }

  /** Waits until the stuck call is released (resolves) or `signal` aborts (rejects with its reason). */
  waitWhileStuck(ruleId: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason)
        return
      }
      const entry = {
        ruleId,
        release: () => {
          this.#stuck.delete(entry)
          signal.removeEventListener('abort', onAbort)
          resolve()
        },
      }
      const onAbort = () => {
        this.#stuck.delete(entry)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#stuck.add(entry)
    })
  }

  /** Releases the calls stuck by one rule, or all of them; returns how many were released. */
  release(ruleId?: string): number {
    const entries = [...this.#stuck].filter((entry) => ruleId === undefined || entry.ruleId === ruleId)
    for (const entry of entries) entry.release()
    return entries.length
  }

  get stuckCount(): number {
    return this.#stuck.size
  }
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
  return new RegExp(`^${escaped}$`)
}
