import { defineClass } from '../class-schema'

// Field table of the XAPI class `host_cpu`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const hostCpuClass = defineClass({
  name: 'host_cpu',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['host', 'host ref', 'ro'],
    ['number', 'int', 'ro'],
    ['vendor', 'string', 'ro'],
    ['speed', 'int', 'ro'],
    ['modelname', 'string', 'ro'],
    ['family', 'int', 'ro'],
    ['model', 'int', 'ro'],
    ['stepping', 'string', 'ro'],
    ['flags', 'string', 'ro'],
    ['features', 'string', 'ro'],
    ['utilisation', 'float', 'ro'],
    ['other_config', '(string -> string) map', 'rw', {}],
  ],
})
