/**
 * The XAPI fields of VDIs about to be created. XAPI makes the record of a new VDI from what its
 * caller asked (`VDI.create`, `VDI.copy`, an import, a fixture) and what SM reports; SM reports
 * through the `vdi-introduced` event, which fires inside the storage call. The caller therefore
 * registers the fields under the uuid it gives SM, and the record sync takes them when the VDI is
 * introduced.
 */
export interface VdiIntent {
  readonly name_label: string
  readonly name_description: string
  readonly type: string
  readonly sharable: boolean
  readonly read_only: boolean
  readonly other_config: Readonly<Record<string, string>>
  readonly xenstore_data: Readonly<Record<string, string>>
  /** Keys the caller gives; SM's own keys (`vhd-parent`, ...) come from the storage facts. */
  readonly sm_config: Readonly<Record<string, string>>
  readonly tags: readonly string[]
  readonly on_boot?: string
  readonly allow_caching?: boolean
  /** ISO images are found by file name; other VDIs are located by uuid. */
  readonly location?: string
}

export class VdiIntents {
  readonly #pending = new Map<string, VdiIntent>()

  /** Registers `intent` for `uuid` while `create` runs (the storage call that introduces the VDI). */
  async creating<T>(uuid: string, intent: VdiIntent, create: () => Promise<T>): Promise<T> {
    this.#pending.set(uuid, intent)
    try {
      return await create()
    } finally {
      this.#pending.delete(uuid)
    }
  }

  get(uuid: string): VdiIntent | undefined {
    return this.#pending.get(uuid)
  }
}
