import { type ClassSchema, copyValue, initialValue } from '../model/class-schema'
import { findClass, getClass } from '../model/classes'
import { isDerivedSet, relationsFrom } from '../model/relations'
import { isNullRef, newRef, newUuid } from '../model/values'
import { handleInvalid, uuidInvalid, XapiError } from '../rpc/errors'

export type XapiRecord = Readonly<Record<string, unknown>>

/** A stored object. Records are replaced, never mutated, so a record handed out stays as it was. */
export interface StoredObject {
  readonly cls: string
  readonly ref: string
  record: XapiRecord
  /** Database generation at which the object was created. */
  readonly created: number
  /** Database generation of the last change (creation included). */
  modified: number
}

export interface Tombstone {
  readonly cls: string
  readonly ref: string
  readonly created: number
  readonly deleted: number
}

/** What `event.from` needs: objects changed after a generation, and objects deleted after it. */
export interface ChangesSince {
  readonly changed: readonly StoredObject[]
  readonly deleted: readonly Tombstone[]
}

export interface DatabaseSnapshot {
  readonly generation: number
  readonly objects: readonly {
    readonly cls: string
    readonly ref: string
    readonly created: number
    readonly modified: number
    readonly record: XapiRecord
  }[]
}

export interface DatabaseOptions {
  /** How many deletions to remember for `event.from`; older tokens get EVENTS_LOST. */
  readonly maxTombstones?: number
}

/**
 * The object database: one table per class, refs and uuids unique across all classes, a generation
 * counter bumped by every change (XAPI's "manifest generation", the first half of an event token),
 * derived relationship sets kept in step with the refs they come from.
 */
export class Database {
  #generation = 0
  readonly #tables = new Map<string, Map<string, StoredObject>>()
  readonly #byRef = new Map<string, StoredObject>()
  readonly #byUuid = new Map<string, StoredObject>()
  /** Objects in the order they changed (with repeats); compacted when it grows. */
  #changeLog: { generation: number; object: StoredObject }[] = []
  #tombstones: Tombstone[] = []
  /** Deletions at or before this generation may have been forgotten. */
  #forgottenUpTo = 0
  readonly #maxTombstones: number
  readonly #listeners = new Set<(generation: number) => void>()

  constructor(options: DatabaseOptions = {}) {
    this.#maxTombstones = options.maxTombstones ?? 100_000
  }

  get generation(): number {
    return this.#generation
  }

  /** The oldest generation from which `changesSince` is still complete. */
  get historyStart(): number {
    return this.#forgottenUpTo
  }

  /** Consumes a generation for something stored outside the tables (messages), and notifies. */
  consumeGeneration(): number {
    const generation = ++this.#generation
    this.#notify()
    return generation
  }

  onChange(listener: (generation: number) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  // --- reading -------------------------------------------------------------------------------

  exists(cls: string, ref: string): boolean {
    return this.#byRef.get(ref)?.cls === cls
  }

  /** The class of the object `ref` points to, if any. */
  classOf(ref: string): string | undefined {
    return this.#byRef.get(ref)?.cls
  }

  find(cls: string, ref: string): XapiRecord | undefined {
    const object = this.#byRef.get(ref)
    return object?.cls === cls ? object.record : undefined
  }

  /** The record of `ref`; HANDLE_INVALID [cls, ref] when there is none, as XAPI answers. */
  get(cls: string, ref: string): XapiRecord {
    const record = this.find(cls, ref)
    if (record === undefined) throw handleInvalid(cls, ref)
    return record
  }

  field<T = unknown>(cls: string, ref: string, field: string): T {
    return this.get(cls, ref)[field] as T
  }

  /** The ref of the object of class `cls` with this uuid; UUID_INVALID [cls, uuid] when none. */
  refOfUuid(cls: string, uuid: string): string {
    const object = this.#byUuid.get(uuid)
    if (object === undefined || object.cls !== cls) throw uuidInvalid(cls, uuid)
    return object.ref
  }

  findByUuid(uuid: string): StoredObject | undefined {
    return this.#byUuid.get(uuid)
  }

  refs(cls: string): string[] {
    return [...this.#table(cls).keys()]
  }

  *entries(cls: string): IterableIterator<[string, XapiRecord]> {
    for (const [ref, object] of this.#table(cls)) yield [ref, object.record]
  }

  count(cls: string): number {
    return this.#tables.get(cls)?.size ?? 0
  }

  /** Refs of `cls` whose record satisfies `predicate`. */
  filter(cls: string, predicate: (record: XapiRecord, ref: string) => boolean): string[] {
    const result: string[] = []
    for (const [ref, object] of this.#table(cls)) if (predicate(object.record, ref)) result.push(ref)
    return result
  }

  // --- writing -------------------------------------------------------------------------------

  /**
   * Creates an object with every field of its class: `values` first, then the datamodel default,
   * then the type's zero value. Derived sets start empty and the objects it points to are updated.
   */
  create(cls: string, values: Record<string, unknown>, ref: string = newRef()): string {
    const schema = getClass(cls)
    if (this.#byRef.has(ref)) throw new Error(`ref ${ref} already exists`)
    assertKnownFields(schema, values)
    const record: Record<string, unknown> = {}
    for (const field of schema.fields) {
      const given = values[field.name]
      record[field.name] =
        given !== undefined && !isDerivedSet(cls, field.name) ? copyValue(given) : initialValue(field)
    }
    if (record.uuid === '' || record.uuid === undefined) record.uuid = newUuid()
    const uuid = String(record.uuid)
    if (this.#byUuid.has(uuid)) throw new Error(`uuid ${uuid} already exists`)
    const generation = ++this.#generation
    const object: StoredObject = { cls, ref, record: Object.freeze(record), created: generation, modified: generation }
    this.#table(cls).set(ref, object)
    this.#byRef.set(ref, object)
    this.#byUuid.set(uuid, object)
    this.#logChange(object)
    for (const relation of relationsFrom(cls)) {
      this.#addToDerivedSet(relation.setClass, String(record[relation.refField]), relation.setField, ref, generation)
    }
    this.#notify()
    return ref
  }

  /** Changes some fields of an object; refs that move update both ends of their relation. */
  update(cls: string, ref: string, patch: Record<string, unknown>): void {
    const object = this.#object(cls, ref)
    const schema = getClass(cls)
    assertKnownFields(schema, patch)
    const generation = ++this.#generation
    const next: Record<string, unknown> = { ...object.record }
    for (const [name, value] of Object.entries(patch)) next[name] = copyValue(value)
    for (const relation of relationsFrom(cls)) {
      const before = String(object.record[relation.refField])
      const after = String(next[relation.refField])
      if (before === after) continue
      this.#removeFromDerivedSet(relation.setClass, before, relation.setField, ref, generation)
      this.#addToDerivedSet(relation.setClass, after, relation.setField, ref, generation)
    }
    if (next.uuid !== object.record.uuid) throw new Error(`the uuid of ${cls} ${ref} cannot change`)
    object.record = Object.freeze(next)
    object.modified = generation
    this.#logChange(object)
    this.#notify()
  }

  /** Marks an object changed without changing it (XAPI's `touch_row`, used by `event.inject`). */
  touch(cls: string, ref: string): void {
    const object = this.#object(cls, ref)
    object.modified = ++this.#generation
    this.#logChange(object)
    this.#notify()
  }

  /** Deletes an object. Refs pointing to it elsewhere are left dangling, as in XAPI's database. */
  destroy(cls: string, ref: string): void {
    const object = this.#object(cls, ref)
    const generation = ++this.#generation
    this.#table(cls).delete(ref)
    this.#byRef.delete(ref)
    this.#byUuid.delete(String(object.record.uuid))
    for (const relation of relationsFrom(cls)) {
      const target = String(object.record[relation.refField])
      this.#removeFromDerivedSet(relation.setClass, target, relation.setField, ref, generation)
    }
    this.#tombstones.push({ cls, ref, created: object.created, deleted: generation })
    if (this.#tombstones.length > this.#maxTombstones) {
      const dropped = this.#tombstones.splice(0, this.#tombstones.length - this.#maxTombstones)
      this.#forgottenUpTo = Math.max(this.#forgottenUpTo, dropped[dropped.length - 1]!.deleted)
    }
    this.#notify()
  }

  // --- events --------------------------------------------------------------------------------

  /** Objects (still alive) changed after `generation`, and objects deleted after it. */
  changesSince(generation: number): ChangesSince {
    const changed: StoredObject[] = []
    const seen = new Set<string>()
    for (let i = firstAfter(this.#changeLog, (e) => e.generation, generation); i < this.#changeLog.length; i++) {
      const { object } = this.#changeLog[i]!
      if (seen.has(object.ref) || object.modified <= generation || this.#byRef.get(object.ref) !== object) continue
      seen.add(object.ref)
      changed.push(object)
    }
    const start = firstAfter(this.#tombstones, (t) => t.deleted, generation)
    return { changed, deleted: this.#tombstones.slice(start) }
  }

  // --- persistence ---------------------------------------------------------------------------

  snapshot(): DatabaseSnapshot {
    const objects = [...this.#byRef.values()].map(({ cls, ref, created, modified, record }) => ({
      cls,
      ref,
      created,
      modified,
      record,
    }))
    return { generation: this.#generation, objects }
  }

  /**
   * Loads a snapshot into an empty database. Fields added to a class since the snapshot was taken get
   * their defaults; fields no longer known are dropped. Deletions before the snapshot are forgotten.
   */
  restore(snapshot: DatabaseSnapshot): void {
    if (this.#byRef.size !== 0) throw new Error('restore needs an empty database')
    for (const stored of snapshot.objects) {
      const schema = findClass(stored.cls)
      if (schema === undefined) continue
      const record: Record<string, unknown> = {}
      for (const field of schema.fields) {
        const value = stored.record[field.name]
        record[field.name] = value !== undefined ? value : initialValue(field)
      }
      const object: StoredObject = {
        cls: stored.cls,
        ref: stored.ref,
        record: Object.freeze(record),
        created: stored.created,
        modified: stored.modified,
      }
      this.#table(stored.cls).set(stored.ref, object)
      this.#byRef.set(stored.ref, object)
      this.#byUuid.set(String(record.uuid), object)
    }
    this.#generation = snapshot.generation
    this.#forgottenUpTo = snapshot.generation
    this.#rebuildChangeLog()
  }

  // --- internals -----------------------------------------------------------------------------

  #table(cls: string): Map<string, StoredObject> {
    let table = this.#tables.get(cls)
    if (table === undefined) {
      getClass(cls)
      table = new Map()
      this.#tables.set(cls, table)
    }
    return table
  }

  #object(cls: string, ref: string): StoredObject {
    const object = this.#byRef.get(ref)
    if (object === undefined || object.cls !== cls) throw handleInvalid(cls, ref)
    return object
  }

  #addToDerivedSet(cls: string, target: string, field: string, ref: string, generation: number): void {
    if (isNullRef(target)) return
    const object = this.#byRef.get(target)
    if (object === undefined || object.cls !== cls) return
    const current = object.record[field] as readonly string[]
    if (current.includes(ref)) return
    object.record = Object.freeze({ ...object.record, [field]: [...current, ref] })
    object.modified = generation
    this.#logChange(object)
  }

  #removeFromDerivedSet(cls: string, target: string, field: string, ref: string, generation: number): void {
    if (isNullRef(target)) return
    const object = this.#byRef.get(target)
    if (object === undefined || object.cls !== cls) return
    const current = object.record[field] as readonly string[]
    if (!current.includes(ref)) return
    object.record = Object.freeze({ ...object.record, [field]: current.filter((r) => r !== ref) })
    object.modified = generation
    this.#logChange(object)
  }

  #logChange(object: StoredObject): void {
    this.#changeLog.push({ generation: object.modified, object })
    if (this.#changeLog.length > 4 * this.#byRef.size + 10_000) this.#rebuildChangeLog()
  }

  #rebuildChangeLog(): void {
    this.#changeLog = [...this.#byRef.values()]
      .sort((a, b) => a.modified - b.modified)
      .map((object) => ({ generation: object.modified, object }))
  }

  #notify(): void {
    for (const listener of this.#listeners) listener(this.#generation)
  }
}

function assertKnownFields(schema: ClassSchema, values: Record<string, unknown>): void {
  for (const name of Object.keys(values)) {
    if (!schema.fieldsByName.has(name)) throw new Error(`class ${schema.name} has no field ${name}`)
  }
}

/** Index of the first element whose key is greater than `after` in an array sorted by key. */
function firstAfter<T>(items: readonly T[], key: (item: T) => number, after: number): number {
  let low = 0
  let high = items.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (key(items[middle]!) > after) high = middle
    else low = middle + 1
  }
  return low
}

/** EVENTS_LOST: the token is older than the deletions the database still remembers. */
export function eventsLost(): XapiError {
  return new XapiError('EVENTS_LOST', [])
}
