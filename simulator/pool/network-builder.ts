import { createHash } from 'node:crypto'
import type { SimulatorCore } from '../core'
import type { FixtureNetwork } from '../fixtures/fixture-schema'
import { NULL_REF } from '../model/values'

function macFor(text: string): string {
  const bytes = createHash('sha256').update(text).digest().subarray(0, 6)
  bytes[0] = bytes[0]! & 0xfc
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':')
}

/**
 * A network and its PIF on every host. The first network is the management network: its PIFs carry
 * the hosts' addresses. A network with a VLAN gets VLAN PIFs on `eth0`, the others `eth<index>`.
 */
export function createNetwork(
  core: SimulatorCore,
  network: FixtureNetwork,
  index: number,
  hosts: ReadonlyMap<string, string>,
): string {
  const { db } = core
  const bridge = network.bridge ?? (network.vlan === undefined ? `xenbr${index}` : `xapi${index}`)
  const ref = db.create('network', {
    name_label: network.name,
    name_description: network.description,
    allowed_operations: [],
    MTU: network.mtu,
    other_config: network.vlan === undefined ? { automatic: 'true' } : {},
    bridge,
    managed: true,
    purpose: [],
  })
  const management = index === 0
  for (const host of hosts.values()) {
    const address = String(db.get('host', host).address)
    const device = network.vlan === undefined ? `eth${index}` : 'eth0'
    db.create('PIF', {
      device,
      network: ref,
      host,
      MAC: macFor(`${host}/${device}`),
      MTU: network.mtu,
      VLAN: network.vlan ?? -1,
      metrics: NULL_REF,
      physical: network.vlan === undefined,
      currently_attached: true,
      ip_configuration_mode: management ? 'Static' : 'None',
      IP: management ? address : '',
      netmask: management ? '255.255.255.0' : '',
      gateway: management ? address.replace(/\.[0-9]+$/, '.254') : '',
      DNS: management ? '1.1.1.1' : '',
      management,
      other_config: {},
      managed: true,
      properties: network.vlan === undefined ? { gro: 'on' } : {},
      capabilities: network.vlan === undefined ? ['fcoe'] : [],
      igmp_snooping_status: 'disabled',
    })
  }
  return ref
}
