import { inspect } from 'node:util'

/**
 * A password kept out of logs: printing, string conversion, JSON and util.inspect all show `***`.
 * Code that must send it (the XAPI login) calls `reveal()`, which makes every such place easy to find.
 */
export class Secret {
  readonly #value: string

  constructor(value: string) {
    this.#value = value
  }

  reveal(): string {
    return this.#value
  }

  toString(): string {
    return '***'
  }

  toJSON(): string {
    return '***'
  }

  [inspect.custom](): string {
    return 'Secret(***)'
  }
}
