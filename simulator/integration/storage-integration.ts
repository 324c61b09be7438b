import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SimulatorCore } from '../core'
import { StorageManager } from '../storage'
import type { DiskProvisioner } from './disk-provisioner'
import { IntegrationKnobsSchema, type SimulatorKnobsInput, SimulatorKnobsSchema, splitKnobs } from './integration-knobs'
import { reconcileAfterStart } from './reconcile'
import { RecordSync } from './record-sync'
import { storageDeviceHooks } from './storage-devices'
import { followStorageEvents } from './storage-events'
import { StorageLink } from './storage-link'
import { storageDiskProvisioner } from './storage-provisioner'
import { VdiIntents } from './vdi-intents'
import { XapiRecordView } from './xapi-record-view'

export interface StorageIntegrationOptions {
  /** The simulator's state directory; the storage lives in `<stateDir>/storage`. Without it, in a temporary directory removed on close. */
  readonly stateDir?: string
  readonly knobs?: SimulatorKnobsInput
}

/**
 * One storage manager per simulator, wired into its XAPI core: SM reads XAPI's records through a
 * record view, its facts flow back onto the records, VBDs attach their disks in it, and its SRs and
 * disks back the fixture's.
 */
export class StorageIntegration {
  private constructor(
    readonly link: StorageLink,
    private readonly unsubscribe: () => void,
    private readonly temporaryDirectory: string | undefined,
  ) {}

  static async open(core: SimulatorCore, options: StorageIntegrationOptions = {}): Promise<StorageIntegration> {
    const knobs = splitKnobs(SimulatorKnobsSchema.parse(options.knobs ?? {}))
    const temporary = options.stateDir === undefined ? await mkdtemp(join(tmpdir(), 'xcp-sim-storage-')) : undefined
    const directory = temporary ?? join(options.stateDir!, 'storage')
    try {
      const intents = new VdiIntents()
      const storage = await StorageManager.open({
        stateDir: directory,
        knobs: knobs.storage,
        records: new XapiRecordView(core.db, intents),
      })
      const sync = new RecordSync(core, intents)
      const link = new StorageLink(core, storage, intents, sync, IntegrationKnobsSchema.parse(knobs.integration))
      const unsubscribe = followStorageEvents(core, storage, sync)
      core.devices = storageDeviceHooks(link)
      return new StorageIntegration(link, unsubscribe, temporary)
    } catch (error) {
      if (temporary !== undefined) await rm(temporary, { recursive: true, force: true })
      throw error
    }
  }

  /** Creates the fixture's SRs and disks in the storage manager. */
  get provisioner(): DiskProvisioner {
    return storageDiskProvisioner(this.link)
  }

  /** After the database was loaded from the state directory: records, SM and attachments agree again. */
  reconcileAfterStart(): Promise<void> {
    return reconcileAfterStart(this.link)
  }

  /** Stops the collectors, flushes every SR; an in-memory simulator's storage is deleted. */
  async close(): Promise<void> {
    await this.link.storage.close()
    this.unsubscribe()
    if (this.temporaryDirectory !== undefined) await rm(this.temporaryDirectory, { recursive: true, force: true })
  }
}
