import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { demoFixturePath, FixtureError, parseFixture } from '../../simulator'
import { sizes } from '../../simulator/storage'
import {
  cached,
  connectedClient,
  findByName,
  rawCall,
  rawLogin,
  startTestSimulator,
  stopAll,
  temporaryDirectory,
} from './helpers'

afterEach(stopAll)

const minimal = `
pool: { name: Test }
hosts: [{ name: h1 }]
srs: [{ name: local, type: ext, size: 100GiB, host: h1 }]
`

function problemsOf(yaml: string): readonly string[] {
  try {
    parseFixture(yaml, 'test.yaml')
  } catch (error) {
    if (error instanceof FixtureError) return error.problems
    throw error
  }
  throw new Error('the fixture was accepted')
}

describe('fixture validation', () => {
  it('names the bad field by its path', () => {
    const yaml = `${minimal}
vms:
  - { name: a }
  - { name: b }
  - { name: c }
  - name: d
    disks:
      - { size: twenty gigs, sr: local }
`
    expect(problemsOf(yaml)).toEqual([
      'vms[3].disks[0].size: expected a size like "20GiB" (units B, KiB, MiB, GiB, TiB)',
    ])
  })

  it('reports every problem: unknown fields, bad enums, missing fields, references to unknown objects', () => {
    const problems = problemsOf(`
pool: { name: Test }
hosts: [{ name: h1, adress: 10.0.0.1 }]
srs:
  - { name: local, type: ext3, size: 100GiB, host: h1 }
  - { name: nfs, type: nfs, size: 1TiB, host: h1 }
  - { name: other, type: ext, size: 10GiB }
networks: [{ name: lan }]
vms:
  - name: a
    powerState: Running
    host: h2
    networks: [wan]
    blockedOperations: { fly: nope }
    disks: [{ size: 10GiB, sr: missing, used: 120% }]
  - { description: no name }
`)
    expect(problems).toEqual(
      expect.arrayContaining([
        'hosts[0].adress: unknown field (check its spelling)',
        expect.stringMatching(/^srs\[0\]\.type: Invalid option: expected one of "ext"\|"nfs"/),
        'vms[0].disks[0].used: expected a percentage like "40%" (0% to 100%)',
        expect.stringMatching(/^vms\[0\]\.blockedOperations\.fly: "fly" is not a VM operation/),
        'vms[1].name: required (string)',
      ]),
    )
    expect(
      problemsOf(`
pool: { name: Test }
hosts: [{ name: h1 }]
srs:
  - { name: nfs, type: nfs, size: 1TiB, host: h1 }
  - { name: other, type: ext, size: 10GiB }
networks: [{ name: lan }]
vms:
  - name: a
    powerState: Running
    host: h2
    networks: [wan]
    disks: [{ size: 10GiB, sr: missing }]
`),
    ).toEqual([
      'srs[0].host: a shared SR is on every host: remove host or set shared: false',
      'srs[1].host: a local SR (shared: false) needs the host it is on',
      'vms[0].networks[0]: no network is named "wan" (networks: "lan")',
      'vms[0].host: no host is named "h2" (hosts: "h1")',
      'vms[0].disks[0].sr: no SR is named "missing" (SRs: "nfs", "other")',
    ])
  })

  it("refuses disks that do not fit, and a running VM's disk on another host's local SR", () => {
    expect(
      problemsOf(`
pool: { name: Test }
hosts: [{ name: h1 }, { name: h2 }]
srs:
  - { name: thin, type: ext, size: 100GiB, host: h1 }
  - { name: thick, type: lvm, size: 30GiB, host: h2 }
vms:
  - name: a
    powerState: Running
    host: h1
    disks: [{ size: 20GiB, sr: thick }, { size: 1TiB, sr: thin, used: 5% }]
  - name: b
    host: h2
    disks: [{ size: 20GiB, sr: thick }, { size: 1TiB, sr: thin, used: 50% }]
`),
    ).toEqual([
      'vms[0].disks[0].sr: "thick" is local to host "h2" but the VM runs on "h1": use a shared SR or move the VM',
      'vms[1].disks[0].size: SR "thick" (30 GiB, thick) has no room left for this disk: its disks need 40 GiB',
      'vms[1].disks[1].size: SR "thin" (100 GiB, thin) has no room left for this disk: its disks need 563.2 GiB',
    ])
  })

  it('reports YAML syntax errors with their position', () => {
    expect(problemsOf('pool: [unclosed\nhosts: x')[0]).toMatch(/^YAML syntax error at line \d+, column \d+: /)
  })

  it('loads the demo fixture', async () => {
    const fixture = parseFixture(await readFile(demoFixturePath, 'utf8'), demoFixturePath)
    expect(fixture.hosts.map((host) => host.name)).toEqual(['xcp-ng-1', 'xcp-ng-2'])
    expect(fixture.srs.map((sr) => sr.type)).toEqual(['ext', 'lvm', 'iso'])
    expect(fixture.vms.flatMap((vm) => vm.tags)).toEqual(
      expect.arrayContaining(['prod', 'xo:no-bak', 'xo-memory-backup']),
    )
    expect(fixture.vms.some((vm) => vm.powerState === 'Halted')).toBe(true)
  })
})

describe('a pool built from a fixture', () => {
  it('has what the fixture says, as XAPI records', async () => {
    const sim = await startTestSimulator()
    const xapi = await connectedClient(sim)
    expect(
      cached(xapi, 'host')
        .map((host) => [
          host.name_label,
          host.address,
          (host.software_version as Record<string, string>).product_version,
        ])
        .sort(),
    ).toEqual([
      ['xcp-ng-1', '127.0.0.1', '8.3.0'],
      ['xcp-ng-2', '127.0.0.2', '8.3.0'],
    ])
    const lvm = findByName(xapi, 'SR', 'LVM storage')
    expect(lvm).toMatchObject({ type: 'lvm', shared: false, content_type: 'user', physical_size: 400 * 2 ** 30 })
    expect((lvm.sm_config as Record<string, string>).allocation).toBe('thick')
    // SM's numbers: thick LVHD inflates each LV fully, plus the 4 MiB management LV.
    expect(lvm.physical_utilisation).toBe(
      sizes.inflatedLvSize(20 * 2 ** 30) + sizes.inflatedLvSize(100 * 2 ** 30) + 4 * 2 ** 20,
    )
    const ext = findByName(xapi, 'SR', 'Local storage')
    expect(xapi.pool.default_SR).toBe(ext.$ref)
    const root = findByName(xapi, 'VDI', 'web-01 root')
    expect(root).toMatchObject({
      virtual_size: 20 * 2 ** 30,
      // 40 % of 10 240 blocks hold (synthetic) data: the VHD file's size.
      physical_utilisation: sizes.vhdFileSize(20 * 2 ** 30, 4096),
      SR: ext.$ref,
      type: 'user',
    })
    expect(cached(xapi, 'VDI').some((vdi) => vdi.name_label === '[NOBAK] build-runner scratch')).toBe(true)
    const legacy = findByName(xapi, 'VM', 'legacy-app')
    const cd = (legacy.$VBDs as { type: string; $VDI?: { name_label: string } }[]).find((vbd) => vbd.type === 'CD')
    expect(cd?.$VDI?.name_label).toBe('debian-12.8.0-amd64-netinst.iso')
    const db01 = findByName(xapi, 'VM', 'db-01')
    expect((db01.$VIFs as { $network: { name_label: string } }[]).map((vif) => vif.$network.name_label)).toEqual([
      'Pool-wide network associated with eth0',
      'Backup network',
    ])
    const templates = cached(xapi, 'VM').filter((vm) => vm.is_a_template === true)
    expect(templates.filter((t) => t.is_default_template === true).length).toBeGreaterThanOrEqual(5)
    expect(templates.some((t) => t.name_label === 'Debian 12 golden image' && t.is_default_template === false)).toBe(
      true,
    )
  })
})

describe('persistence', () => {
  it('finds the same refs, uuids and records after a restart on the same state directory', async () => {
    const stateDir = await temporaryDirectory()
    const first = await startTestSimulator({ stateDir })
    expect(first.reusedState).toBe(false)
    const session = await rawLogin(first)
    const vm = ((await rawCall(first, 'VM.get_by_name_label', [session, 'web-01'])) as string[])[0]!
    await rawCall(first, 'VM.add_tags', [session, vm, 'persisted'])
    await rawCall(first, 'secret.create', [session, { value: 'kept', other_config: {} }])
    const before = first.core.db.snapshot()
    await first.close()

    const second = await startTestSimulator({ stateDir, fixture: join(stateDir, 'does-not-exist.yaml') })
    expect(second.reusedState).toBe(true)
    const after = second.core.db.snapshot()
    const key = (o: { cls: string; ref: string }) => `${o.cls}/${o.ref}`
    expect(new Map(after.objects.map((o) => [key(o), o.record]))).toEqual(
      new Map(before.objects.map((o) => [key(o), o.record])),
    )
    expect(second.core.db.get('VM', vm).tags).toContain('persisted')
    // Sessions are not persisted: the client logs in again.
    await expect(rawCall(second, 'VM.get_all', [session])).rejects.toMatchObject({ code: 'SESSION_INVALID' })
  })

  it('forgets tasks that were running when the simulator stopped, and their operations', async () => {
    const stateDir = await temporaryDirectory()
    const first = await startTestSimulator({ stateDir })
    const session = await rawLogin(first)
    const vm = ((await rawCall(first, 'VM.get_by_name_label', [session, 'legacy-app'])) as string[])[0]!
    await first.control.addFault({ method: 'VM.start', action: { kind: 'stuck' } })
    const task = (await rawCall(first, 'Async.VM.start', [session, vm, false, false])) as string
    const done = (await rawCall(first, 'task.create', [session, 'finished', ''])) as string
    await rawCall(first, 'task.set_status', [session, done, 'success'])
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(Object.keys(first.core.db.get('VM', vm).current_operations as object)).toEqual([task])
    await first.control.flush()
    // A crash: the saved state still has the pending task.
    const saved = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')) as {
      database: { objects: { ref: string }[] }
    }
    expect(saved.database.objects.some((o) => o.ref === task)).toBe(true)
    await first.close()
    await writeFile(join(stateDir, 'state.json'), JSON.stringify(saved))

    const second = await startTestSimulator({ stateDir })
    expect(second.core.db.exists('task', task)).toBe(false)
    expect(second.core.db.exists('task', done)).toBe(true)
    expect(second.core.db.get('VM', vm)).toMatchObject({ current_operations: {}, power_state: 'Halted' })
    expect(second.core.db.get('VM', vm).allowed_operations).toContain('start')
  })

  it('refuses a state directory in use, and leaves an unreadable state file untouched', async () => {
    const stateDir = await temporaryDirectory()
    await startTestSimulator({ stateDir })
    await expect(startTestSimulator({ stateDir })).rejects.toThrow(/in use by another simulator/)
    const broken = await temporaryDirectory()
    await writeFile(join(broken, 'state.json'), '{"format": "something else"}')
    await expect(startTestSimulator({ stateDir: broken })).rejects.toThrow(/left untouched/)
    expect(await readFile(join(broken, 'state.json'), 'utf8')).toBe('{"format": "something else"}')
  })
})
