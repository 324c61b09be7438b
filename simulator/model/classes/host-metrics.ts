import { defineClass } from '../class-schema'

// Field table of the XAPI class `host_metrics`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const hostMetricsClass = defineClass({
  name: 'host_metrics',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['memory_total', 'int', 'ro'],
    ['memory_free', 'int', 'ro', 0],
    ['live', 'bool', 'ro'],
    ['last_updated', 'datetime', 'ro'],
    ['other_config', '(string -> string) map', 'rw', {}],
  ],
})
