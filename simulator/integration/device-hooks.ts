import type { SimulatorCore } from '../core'

/**
 * What the storage manager does when a domain starts using a disk or stops (SM's attach/activate,
 * deactivate/detach): the XAPI core calls these around every change of `VBD.currently_attached`
 * (VM start, shutdown, suspend, resume, VBD plug and unplug). The storage integration implements
 * them; without it they do nothing.
 */
export interface DeviceHooks {
  /** Attaches the VBD's VDI on the host; throws the storage error (e.g. LVHD inflate failing with 180). */
  attachVbd(core: SimulatorCore, vbd: string): Promise<void>
  /** Detaches it; a VBD that was not attached is ignored. */
  detachVbd(core: SimulatorCore, vbd: string): Promise<void>
  /** A suspended VM is shut down or resumed: its suspend image goes. */
  discardSuspendImage(core: SimulatorCore, vm: string): Promise<void>
}

export const noDeviceHooks: DeviceHooks = {
  attachVbd: async () => undefined,
  detachVbd: async () => undefined,
  discardSuspendImage: async () => undefined,
}
