import { defineClass } from '../class-schema'

// Field table of the XAPI class `console`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const consoleClass = defineClass({
  name: 'console',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['protocol', 'enum console_protocol', 'ro'],
    ['location', 'string', 'ro'],
    ['VM', 'VM ref', 'ro'],
    ['other_config', '(string -> string) map', 'rw'],
  ],
})
