import { defineClass } from '../class-schema'

// Field table of the XAPI class `message`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const messageClass = defineClass({
  name: 'message',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['name', 'string', 'ro'],
    ['priority', 'int', 'ro'],
    ['cls', 'enum cls', 'ro'],
    ['obj_uuid', 'string', 'ro'],
    ['timestamp', 'datetime', 'ro'],
    ['body', 'string', 'ro'],
  ],
})
