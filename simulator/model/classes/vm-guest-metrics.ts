import { defineClass } from '../class-schema'

// Field table of the XAPI class `VM_guest_metrics`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const vmGuestMetricsClass = defineClass({
  name: 'VM_guest_metrics',
  getByNameLabel: false,
  fields: [
    ['uuid', 'string', 'ro'],
    ['os_version', '(string -> string) map', 'ro'],
    ['PV_drivers_version', '(string -> string) map', 'ro'],
    ['PV_drivers_up_to_date', 'bool', 'ro'],
    ['memory', '(string -> string) map', 'ro', {}],
    ['disks', '(string -> string) map', 'ro', {}],
    ['networks', '(string -> string) map', 'ro'],
    ['other', '(string -> string) map', 'ro'],
    ['last_updated', 'datetime', 'ro'],
    ['other_config', '(string -> string) map', 'rw', {}],
    ['live', 'bool', 'ro', false],
    ['can_use_hotplug_vbd', 'enum tristate_type', 'ro', 'unspecified'],
    ['can_use_hotplug_vif', 'enum tristate_type', 'ro', 'unspecified'],
    ['PV_drivers_detected', 'bool', 'ro', false],
    ['netbios_name', '(string -> string) map', 'ro', {}],
    ['services', '(string -> string) map', 'ro', {}],
  ],
})
