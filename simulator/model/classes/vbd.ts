import { defineClass } from '../class-schema'

// Field table of the XAPI class `VBD`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const vbdClass = defineClass({
  name: 'VBD',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['allowed_operations', 'enum vbd_operations set', 'ro', []],
    ['current_operations', '(string -> enum vbd_operations) map', 'ro', {}],
    ['VM', 'VM ref', 'ctor'],
    ['VDI', 'VDI ref', 'ctor'],
    ['device', 'string', 'ctor', ''],
    ['userdevice', 'string', 'rw'],
    ['bootable', 'bool', 'rw'],
    ['mode', 'enum vbd_mode', 'ctor'],
    ['type', 'enum vbd_type', 'rw'],
    ['unpluggable', 'bool', 'rw', true],
    ['storage_lock', 'bool', 'ro'],
    ['empty', 'bool', 'ctor'],
    ['other_config', '(string -> string) map', 'rw'],
    ['currently_attached', 'bool', 'ctor', false],
    ['status_code', 'int', 'ro'],
    ['status_detail', 'string', 'ro'],
    ['runtime_properties', '(string -> string) map', 'ro'],
    ['qos_algorithm_type', 'string', 'rw'],
    ['qos_algorithm_params', '(string -> string) map', 'rw'],
    ['qos_supported_algorithms', 'string set', 'ro'],
    ['metrics', 'VBD_metrics ref', 'ro', 'OpaqueRef:NULL'],
  ],
})
