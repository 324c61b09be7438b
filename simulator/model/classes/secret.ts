import { defineClass } from '../class-schema'

// Field table of the XAPI class `secret`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const secretClass = defineClass({
  name: 'secret',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['value', 'string', 'rw'],
    ['other_config', '(string -> string) map', 'rw', {}],
  ],
})
