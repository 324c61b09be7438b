import { defineClass } from '../class-schema'

// Field table of the XAPI class `PBD`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const pbdClass = defineClass({
  name: 'PBD',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['host', 'host ref', 'ctor'],
    ['SR', 'SR ref', 'ctor'],
    ['device_config', '(string -> string) map', 'ctor'],
    ['currently_attached', 'bool', 'ro'],
    ['other_config', '(string -> string) map', 'rw', {}],
  ],
})
