import { defineClass } from '../class-schema'

// Field table of the XAPI class `SR`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const srClass = defineClass({
  name: 'SR',
  getByNameLabel: true,
  fields: [
    ['uuid', 'string', 'ro'],
    ['name_label', 'string', 'ctor', ''],
    ['name_description', 'string', 'ctor', ''],
    ['allowed_operations', 'enum storage_operations set', 'ro', []],
    ['current_operations', '(string -> enum storage_operations) map', 'ro', {}],
    ['VDIs', 'VDI ref set', 'ro'],
    ['PBDs', 'PBD ref set', 'ro'],
    ['virtual_allocation', 'int', 'ro'],
    ['physical_utilisation', 'int', 'ro'],
    ['physical_size', 'int', 'ctor'],
    ['type', 'string', 'ctor'],
    ['content_type', 'string', 'ctor'],
    ['shared', 'bool', 'ro'],
    ['other_config', '(string -> string) map', 'rw'],
    ['tags', 'string set', 'rw', []],
    ['sm_config', '(string -> string) map', 'rw', {}],
    ['blobs', '(string -> blob ref) map', 'ro', {}],
    ['local_cache_enabled', 'bool', 'ro', false],
    ['introduced_by', 'DR_task ref', 'ro', 'OpaqueRef:NULL'],
    ['clustered', 'bool', 'ro', false],
    ['is_tools_sr', 'bool', 'ro', false],
  ],
})
