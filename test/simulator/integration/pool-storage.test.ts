import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { fixtureSchema, SimulatorControlClient } from '../../../simulator'
import { cached, connectedClient, findByName, startTestSimulator, stopAll, temporaryDirectory } from '../helpers'
import { disksOf, exportRaw, fastKnobs, GiB, MiB, sha256, snapshotVm, startPool } from './helpers'

afterEach(stopAll)

const run = promisify(execFile)

/** Bytes the filesystem really allocated under `path` (`du`, not apparent sizes). */
async function diskUsage(path: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', path])
  return Number(stdout.split('\t')[0])
}

describe('the pool and its storage', () => {
  it('starts 500 VMs with 100 GiB disks in a state directory of a few megabytes', async () => {
    const stateDir = await temporaryDirectory()
    const fixture = fixtureSchema.parse({
      pool: { name: 'Big' },
      hosts: [{ name: 'h1' }, { name: 'h2' }],
      srs: [{ name: 'nfs', type: 'nfs', size: '100TiB' }],
      vms: Array.from({ length: 500 }, (_, i) => ({
        name: `vm-${i}`,
        powerState: i % 2 === 0 ? 'Running' : 'Halted',
        host: i % 2 === 0 ? 'h1' : 'h2',
        disks: [{ size: '100GiB', sr: 'nfs', used: `${(i % 5) * 20}%` }],
      })),
    })
    const sim = await startTestSimulator({ fixture, stateDir, knobs: fastKnobs })
    const xapi = await connectedClient(sim)
    const disks = cached(xapi, 'VDI').filter((vdi) => /^vm-\d+ 0$/.test(String(vdi.name_label)))
    expect(disks).toHaveLength(500)
    const nfs = findByName(xapi, 'SR', 'nfs')
    // 100 disks each at 20 %, 40 %, 60 % and 80 %: 20 000 GiB counted as used, nothing of it stored.
    expect(Number(nfs.physical_utilisation)).toBeGreaterThan(20_000 * GiB)
    expect(Number(nfs.virtual_allocation)).toBe(500 * 100 * GiB)
    await sim.control.flush()
    expect(await diskUsage(stateDir)).toBeLessThan(32 * MiB)
  }, 300_000)

  it('the demo pool starts with real contents in its disks', async () => {
    const sim = await startTestSimulator({ knobs: fastKnobs })
    const xapi = await connectedClient(sim)
    const root = findByName(xapi, 'VDI', 'legacy-app root')
    // 80 % of 10 GiB hold (synthetic) data: the first and last megabyte of an extent are not zeros.
    const blocks = await sim.storage.srOfVdi(root.uuid).blocksToExport(root.uuid)
    expect(blocks.length).toBe(Math.round(0.8 * 5120))
    const first = await sim.control.readDisk({ vdi: root.$ref }, blocks[0]! * 2 * MiB, MiB)
    expect(first.some((byte) => byte !== 0)).toBe(true)
    const runningDisks = cached(xapi, 'VBD').filter((vbd) => vbd.currently_attached === true && vbd.type === 'Disk')
    expect(runningDisks.length).toBeGreaterThan(0)
    for (const vbd of runningDisks) {
      const vdi = sim.core.db.get('VDI', String(vbd.VDI))
      expect(sim.storage.srOfVdi(String(vdi.uuid)).holders(String(vdi.uuid))).toEqual([vbd.$ref])
    }
  })

  it('finds the same disks, contents, chains and attachments after a restart', async () => {
    const stateDir = await temporaryDirectory()
    const first = await startPool({ stateDir })
    let xapi = await connectedClient(first)
    const vm = findByName(xapi, 'VM', 'vm1')
    await first.control.writePattern({ vm: vm.$ref }, { seed: 4, offset: 3, length: 5 * MiB })
    const snapshot = await snapshotVm(xapi, vm.$ref, 'before restart')
    await first.control.writePattern({ vm: vm.$ref }, { seed: 5, offset: 7 * MiB, length: MiB })
    const digests = new Map<string, string>()
    for (const vdi of [...disksOf(xapi, vm.$ref), ...disksOf(xapi, snapshot)]) {
      digests.set(vdi.$ref, sha256(await exportRaw(xapi, vdi.$ref)))
    }
    const records = new Map(cached(xapi, 'VDI').map((vdi) => [vdi.$ref, vdi.sm_config]))
    await xapi.disconnect()
    first.core.sessions.invalidateAll()
    await first.close()

    const second = await startTestSimulator({ stateDir, knobs: fastKnobs })
    expect(second.reusedState).toBe(true)
    xapi = await connectedClient(second)
    for (const [vdi, digest] of digests) expect(sha256(await exportRaw(xapi, vdi))).toBe(digest)
    for (const [vdi, smConfig] of records) expect(second.core.db.get('VDI', vdi).sm_config).toEqual(smConfig)
    const [root] = disksOf(xapi, vm.$ref)
    expect(second.storage.srOfVdi(root!.uuid).holders(root!.uuid)).toHaveLength(1)
    await expect(xapi.call('VDI.destroy', root!.$ref)).rejects.toMatchObject({ code: 'VDI_IN_USE' })
  })

  it('drives guests and the GC over the HTTP control API', async () => {
    const sim = await startPool()
    const xapi = await connectedClient(sim)
    const remote = new SimulatorControlClient(sim.url, { sessionId: xapi.sessionId! })
    const vm = findByName(xapi, 'VM', 'vm1')
    await remote.writeDisk({ vm: 'vm1', disk: 1 }, 5, Buffer.from('written over HTTP'))
    expect((await remote.readDisk({ vm: vm.uuid, disk: 1 }, 5, 17)).toString()).toBe('written over HTTP')
    const [, data] = disksOf(xapi, vm.$ref)
    const changed = await remote.changeBlocks({ vdi: data!.uuid }, { seed: 8, fraction: 0.25 })
    expect(changed).toHaveLength(Math.round(0.25 * 17))
    const digest = await remote.diskDigest({ vdi: data!.$ref })
    expect(digest).toEqual({ sha256: sha256(await exportRaw(xapi, data!.$ref)), virtualSize: 34 * MiB })
    await expect(remote.writeDisk({ vm: 'nope' }, 0, Buffer.from('x'))).rejects.toMatchObject({ status: 400 })
    await expect(remote.gc('ext', { action: 'freeze' })).resolves.toMatchObject({ frozen: true, active: false })
    await expect(remote.gc('ext', { action: 'status' })).resolves.toMatchObject({ frozen: true })
    await expect(remote.setKnobs({ gcQuietPeriodMs: -1 })).rejects.toMatchObject({ status: 400 })
    await expect(remote.setKnobs({ gcQuietPeriod: 1 } as never)).rejects.toMatchObject({ status: 400 })
    expect(await remote.setKnobs({ coalesceBytesPerSecond: 1234 })).toMatchObject({ coalesceBytesPerSecond: 1234 })
    expect(sim.storage.knobs.coalesceBytesPerSecond).toBe(1234)
  })
})
