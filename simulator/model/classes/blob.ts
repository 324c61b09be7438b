import { defineClass } from '../class-schema'

// Field table of the XAPI class `blob`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const blobClass = defineClass({
  name: 'blob',
  getByNameLabel: true,
  fields: [
    ['uuid', 'string', 'ro'],
    ['name_label', 'string', 'rw', ''],
    ['name_description', 'string', 'rw', ''],
    ['size', 'int', 'ro'],
    ['public', 'bool', 'rw', false],
    ['last_updated', 'datetime', 'ctor'],
    ['mime_type', 'string', 'ctor'],
  ],
})
