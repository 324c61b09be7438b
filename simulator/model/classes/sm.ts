import { defineClass } from '../class-schema'

// Field table of the XAPI class `SM`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const smClass = defineClass({
  name: 'SM',
  getByNameLabel: true,
  fields: [
    ['uuid', 'string', 'ro'],
    ['name_label', 'string', 'ro', ''],
    ['name_description', 'string', 'ro', ''],
    ['type', 'string', 'ro'],
    ['vendor', 'string', 'ro'],
    ['copyright', 'string', 'ro'],
    ['version', 'string', 'ro'],
    ['required_api_version', 'string', 'ro'],
    ['configuration', '(string -> string) map', 'ro'],
    ['capabilities', 'string set', 'ro', []],
    ['features', '(string -> int) map', 'ro', {}],
    ['other_config', '(string -> string) map', 'rw', {}],
    ['driver_filename', 'string', 'ro', ''],
    ['required_cluster_stack', 'string set', 'ro', []],
  ],
})
