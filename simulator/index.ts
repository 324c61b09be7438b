/** The XAPI pool simulator: what tests, the demo and the storage integration use. */
export type { SimulatorControlApi, SimulatorInfo } from './control/control-api'
export { SimulatorControl } from './control/control-api'
export { type ControlCredentials, SimulatorControlClient, SimulatorControlError } from './control/control-client'
export type { GcRequest, GcStatus, StorageControlApi } from './control/storage-control'
export { SimulatorCore } from './core'
export { type FaultRule, type FaultRuleInput, type FaultStatus, faultRuleSchema } from './faults/fault-rules'
export type { OperationStats } from './faults/operation-probe'
export { type Fixture, type FixtureInput, fixtureSchema } from './fixtures/fixture-schema'
export { demoFixturePath, FixtureError, loadFixtureFile, parseFixture } from './fixtures/load-fixture'
export type { HttpHandler } from './http/router'
export { type DiskTarget, patternBytes } from './integration/guest-disks'
export {
  type SimulatorKnobs,
  type SimulatorKnobsInput,
  type SimulatorKnobsPatch,
  SimulatorKnobsSchema,
} from './integration/integration-knobs'
export { SNAPSHOT_PROBE } from './methods/storage'
export { DEFAULT_SIMULATOR_PASSWORD, type RunningSimulator, type SimulatorOptions, startSimulator } from './simulator'
