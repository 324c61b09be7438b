import { parseXapiType, type XapiType } from '../model/types'
import type { CallContext } from './call-context'

/**
 * A parameter after the session: name, type (XAPI notation, or a prepared type when it is only known
 * at run time, as for generated setters), and the default when it may be omitted.
 */
export type ParamDefinition =
  | readonly [name: string, type: string | XapiType]
  | readonly [name: string, type: string | XapiType, unknown]

/** The JS type a coerced parameter of XAPI type `T` has. */
export type JsTypeOf<T extends string> = T extends `${infer Item} set`
  ? JsTypeOf<Item>[]
  : T extends `(${string} -> ${infer Value}) map`
    ? Record<string, JsTypeOf<Value>>
    : T extends 'int' | 'int32' | 'float'
      ? number
      : T extends 'bool'
        ? boolean
        : T extends `record ${string}`
          ? Record<string, unknown>
          : string

export type ArgumentsOf<P extends readonly ParamDefinition[]> = {
  -readonly [K in keyof P]: P[K] extends readonly [string, infer T, ...unknown[]]
    ? T extends string
      ? JsTypeOf<T>
      : unknown
    : never
}

export interface ParamSpec {
  readonly name: string
  readonly type: XapiType
  readonly optional: boolean
  readonly defaultValue: unknown
}

/** A method the simulator implements, with what the dispatcher needs to check and run it. */
export interface MethodSpec {
  /** Wire name without `Async.`: `VM.start`. */
  readonly name: string
  readonly params: readonly ParamSpec[]
  readonly result: XapiType
  /** Whether the first wire parameter is a session (false for login and `system.listMethods`). */
  readonly session: boolean
  /** Whether XAPI has an `Async.` form (getters, setters, `session.*`, `task.*`, `event.*` do not). */
  readonly async: boolean
  /** Removed from the API: answers MESSAGE_REMOVED after the session check. */
  readonly removed: boolean
  readonly handler: (ctx: CallContext, args: readonly unknown[]) => unknown
}

export interface MethodDefinition<P extends readonly ParamDefinition[]> {
  readonly name: string
  readonly params: P
  /** Result type in XAPI notation (`void`, `VM ref`, `record VM`, ...) or a prepared type. */
  readonly result: string | XapiType
  readonly session?: boolean
  readonly async?: boolean
  readonly removed?: boolean
  readonly handler: (ctx: CallContext, args: ArgumentsOf<P>) => unknown
}

/** Declares a method; its handler receives arguments already checked and converted to its types. */
export function defineMethod<const P extends readonly ParamDefinition[]>(definition: MethodDefinition<P>): MethodSpec {
  return {
    name: definition.name,
    params: definition.params.map((param) => ({
      name: param[0],
      type: typeof param[1] === 'string' ? parseXapiType(param[1]) : param[1],
      optional: param.length === 3,
      defaultValue: param[2],
    })),
    result: typeof definition.result === 'string' ? parseXapiType(definition.result) : definition.result,
    session: definition.session ?? true,
    async: definition.async ?? false,
    removed: definition.removed ?? false,
    handler: definition.handler as (ctx: CallContext, args: readonly unknown[]) => unknown,
  }
}

/** The methods the simulator implements; `system.listMethods` lists exactly these. */
export class MethodRegistry {
  readonly #methods = new Map<string, MethodSpec>()

  register(...specs: readonly MethodSpec[]): void {
    for (const spec of specs) {
      if (this.#methods.has(spec.name)) throw new Error(`method ${spec.name} is registered twice`)
      this.#methods.set(spec.name, spec)
    }
  }

  /** Replaces a registered method (the storage integration overrides placeholders this way). */
  replace(spec: MethodSpec): void {
    this.#methods.set(spec.name, spec)
  }

  find(name: string): MethodSpec | undefined {
    return this.#methods.get(name)
  }

  names(): string[] {
    return [...this.#methods.keys()]
  }
}
