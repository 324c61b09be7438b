import { defineClass } from '../class-schema'

// Field table of the XAPI class `VM_metrics`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const vmMetricsClass = defineClass({
  name: 'VM_metrics',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['memory_actual', 'int', 'ro'],
    ['VCPUs_number', 'int', 'ro'],
    ['VCPUs_utilisation', '(int -> float) map', 'ro', {}],
    ['VCPUs_CPU', '(int -> int) map', 'ro'],
    ['VCPUs_params', '(string -> string) map', 'ro'],
    ['VCPUs_flags', '(int -> string set) map', 'ro'],
    ['state', 'string set', 'ro'],
    ['start_time', 'datetime', 'ro'],
    ['install_time', 'datetime', 'ro'],
    ['last_updated', 'datetime', 'ro'],
    ['other_config', '(string -> string) map', 'rw', {}],
    ['hvm', 'bool', 'ro', false],
    ['nested_virt', 'bool', 'ro', false],
    ['nomigrate', 'bool', 'ro', false],
    ['current_domain_type', 'enum domain_type', 'ro', 'unspecified'],
    ['numa_optimised', 'bool', 'ctor', false],
    ['numa_nodes', 'int', 'ctor', 0],
    ['numa_node_memory', '(int -> int) map', 'ro', {}],
  ],
})
