// Minimal typings for the `xen-api` client (4.7.6), which ships none. Only what this project calls.
declare module 'xen-api' {
  import type { EventEmitter } from 'node:events'
  import type { Readable } from 'node:stream'

  export interface XapiOptions {
    url: string
    auth?: { user: string; password: string } | { sessionId: string }
    allowUnauthorized?: boolean
    readOnly?: boolean
    transport?: 'auto' | 'json-rpc' | 'xml-rpc'
    watchEvents?: boolean | string[]
    callTimeout?: number | Record<string, number>
    debounce?: number
    eventPollDelay?: number
    httpInactivityTimeout?: number
    syncStackTraces?: boolean
  }

  export interface XapiRecord {
    readonly $id: string
    readonly $ref: string
    readonly $type: string
    readonly $xapi: Xapi
    readonly uuid: string
    $call(method: string, ...args: unknown[]): Promise<unknown>
    $callAsync(method: string, ...args: unknown[]): Promise<unknown>
    readonly [field: string]: unknown
  }

  export interface ObjectCollection extends EventEmitter {
    readonly all: Record<string, XapiRecord>
    readonly indexes: { type: Record<string, Record<string, XapiRecord>> }
  }

  export interface HttpResponse {
    statusCode: number
    headers: Record<string, string | string[] | undefined>
    /** undici's body: a stream with fetch-like readers. */
    body: Readable & { text(): Promise<string>; arrayBuffer(): Promise<ArrayBuffer> }
    task?: Promise<unknown>
  }

  export interface ResourceOptions {
    host?: XapiRecord
    query?: Record<string, string | number | boolean | undefined>
    task?: boolean | string
  }

  export class Xapi extends EventEmitter {
    constructor(options: XapiOptions)
    readonly objects: ObjectCollection
    readonly objectsFetched: Promise<void>
    readonly pool: XapiRecord
    readonly sessionId: string | undefined
    readonly status: 'connected' | 'connecting' | 'disconnected'
    connect(): Promise<void>
    disconnect(): Promise<void>
    call<T = unknown>(method: string, ...args: unknown[]): Promise<T>
    callAsync<T = unknown>(method: string, ...args: unknown[]): Promise<T>
    barrier(ref?: string): Promise<void>
    getObject(idOrUuidOrRef: string, defaultValue?: unknown): XapiRecord
    getObjectByRef(ref: string, defaultValue?: unknown): XapiRecord
    getObjectByUuid(uuid: string, defaultValue?: unknown): XapiRecord
    getRecord(type: string, ref: string): Promise<XapiRecord>
    getAllRecords(type: string): Promise<XapiRecord[]>
    getRecordByUuid(type: string, uuid: string): Promise<XapiRecord>
    getField<T = unknown>(type: string, ref: string, field: string): Promise<T>
    setField(type: string, ref: string, field: string, value: unknown): Promise<void>
    watchTask<T = unknown>(ref: string): Promise<T>
    createTask(label: string, description?: string): Promise<string>
    getResource(pathname: string, options?: ResourceOptions): Promise<HttpResponse>
    putResource(body: Readable | Buffer | string, pathname: string, options?: ResourceOptions): Promise<unknown>
  }

  export function createClient(options: XapiOptions): Xapi
}
