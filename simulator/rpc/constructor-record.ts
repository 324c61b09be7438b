import { getClass } from '../model/classes'
import { coerceValue, ValueTypeError } from '../model/types'
import { internalError } from './errors'

/**
 * Reads the record a constructor (`VM.create`, `VBD.create`, ...) receives, as XAPI's generated
 * dispatcher does: every RW and StaticRO field of the class, the datamodel default when the client
 * leaves one out, INTERNAL_ERROR naming the field when it has no default (XAPI's
 * `Dispatcher_FieldNotFound`), each value converted to its type. Unknown members are ignored.
 */
export function readConstructorRecord(cls: string, record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const values: Record<string, unknown> = {}
  for (const field of getClass(cls).fields) {
    if (field.access === 'ro') continue
    const given = record[field.name]
    if (given === undefined) {
      if (field.defaultValue === undefined) {
        throw internalError(`Server_helpers.Dispatcher_FieldNotFound("${field.name}")`)
      }
      values[field.name] = field.defaultValue
      continue
    }
    try {
      values[field.name] = coerceValue(given, field.type, `field ${field.name} of the ${cls} record`)
    } catch (error) {
      if (error instanceof ValueTypeError) {
        // Secrets' values never appear in errors.
        throw internalError(`Invalid value for ${cls === 'secret' ? error.redactedMessage : error.message}`)
      }
      throw error
    }
  }
  return values
}
