import { defineClass } from '../class-schema'

// Field table of the XAPI class `task`: name, type (XAPI's own notation), access, default.
// Transcribed from the XAPI datamodel (see docs/simulator.md, "Where the object model comes from").
export const taskClass = defineClass({
  name: 'task',
  getByNameLabel: true,
  fields: [
    ['uuid', 'string', 'ro'],
    ['name_label', 'string', 'ro', ''],
    ['name_description', 'string', 'ro', ''],
    ['allowed_operations', 'enum task_allowed_operations set', 'ro', []],
    ['current_operations', '(string -> enum task_allowed_operations) map', 'ro', {}],
    ['created', 'datetime', 'ro'],
    ['finished', 'datetime', 'ro'],
    ['status', 'enum task_status_type', 'ro'],
    ['resident_on', 'host ref', 'ro'],
    ['progress', 'float', 'ro'],
    ['type', 'string', 'ro'],
    ['result', 'string', 'ro'],
    ['error_info', 'string set', 'ro'],
    ['other_config', '(string -> string) map', 'rw', {}],
    ['subtask_of', 'task ref', 'ro', 'OpaqueRef:NULL'],
    ['subtasks', 'task ref set', 'ro'],
    ['backtrace', 'string', 'ro', '()'],
  ],
})
