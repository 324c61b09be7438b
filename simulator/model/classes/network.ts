import { defineClass } from '../class-schema'

// Field table of the XAPI class `network`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const networkClass = defineClass({
  name: 'network',
  getByNameLabel: true,
  fields: [
    ['uuid', 'string', 'ro'],
    ['name_label', 'string', 'rw', ''],
    ['name_description', 'string', 'rw', ''],
    ['allowed_operations', 'enum network_operations set', 'ro', []],
    ['current_operations', '(string -> enum network_operations) map', 'ro', {}],
    ['VIFs', 'VIF ref set', 'ro'],
    ['PIFs', 'PIF ref set', 'ro'],
    ['MTU', 'int', 'rw', 1500],
    ['other_config', '(string -> string) map', 'rw'],
    ['bridge', 'string', 'ctor', ''],
    ['managed', 'bool', 'ctor', true],
    ['blobs', '(string -> blob ref) map', 'ro', {}],
    ['tags', 'string set', 'rw', []],
    ['default_locking_mode', 'enum network_default_locking_mode', 'ro', 'unlocked'],
    ['assigned_ips', '(VIF ref -> string) map', 'ro', {}],
    ['purpose', 'enum network_purpose set', 'ro', []],
  ],
})
