import type { XapiType } from '../model/types'
import { childElements, escapeXmlText, parseXml, textOf, type XmlElement, XmlSyntaxError } from './xml'

/**
 * XML-RPC as XAPI speaks it (mirage/ocaml-rpc `xmlrpc.ml`): strings as bare `<value>text</value>`,
 * 64-bit ints as strings, int32 as `<i4>`, doubles `%.16g`, booleans 0/1, `dateTime.iso8601`,
 * structs and arrays; responses wrapped in a `Status`/`Value`/`ErrorDescription` struct.
 */

/** Field types of a class record (by class name, or its lowercase form), for encoding `record` types. */
export type RecordTypesLookup = (cls: string) => Readonly<Record<string, XapiType>>

export interface MethodCall {
  readonly methodName: string
  readonly params: readonly unknown[]
}

/** Decodes a `methodCall` document. Values come out untyped: the method's signature types them. */
export function decodeMethodCall(xml: string): MethodCall {
  const root = parseXml(xml)
  if (root.name !== 'methodCall') throw new XmlSyntaxError(`expected <methodCall>, got <${root.name}>`, 0)
  const elements = childElements(root)
  const nameElement = elements.find((e) => e.name === 'methodName')
  if (nameElement === undefined) throw new XmlSyntaxError('<methodCall> without <methodName>', 0)
  const paramsElement = elements.find((e) => e.name === 'params')
  const params = paramsElement === undefined ? [] : childElements(paramsElement).map(decodeParam)
  return { methodName: textOf(nameElement).trim(), params }
}

function decodeParam(param: XmlElement): unknown {
  if (param.name !== 'param') throw new XmlSyntaxError(`expected <param>, got <${param.name}>`, 0)
  const [value] = childElements(param)
  if (value === undefined) throw new XmlSyntaxError('<param> without <value>', 0)
  return decodeValue(value)
}

/** Decodes a `<value>` element, with XAPI's reading rules (a `<value>` holding only text is a string). */
export function decodeValue(value: XmlElement): unknown {
  if (value.name !== 'value') throw new XmlSyntaxError(`expected <value>, got <${value.name}>`, 0)
  const [typed, ...rest] = childElements(value)
  if (typed === undefined) return textOf(value)
  if (rest.length > 0) throw new XmlSyntaxError('<value> with more than one child', 0)
  const text = () => textOf(typed)
  switch (typed.name) {
    case 'string':
      return text()
    case 'int':
    case 'i4':
    case 'i8': {
      const n = Number(text().trim())
      if (!Number.isInteger(n)) throw new XmlSyntaxError(`bad integer ${JSON.stringify(text())}`, 0)
      return n
    }
    case 'double': {
      const n = Number(text().trim())
      if (Number.isNaN(n)) throw new XmlSyntaxError(`bad double ${JSON.stringify(text())}`, 0)
      return n
    }
    case 'boolean':
      return text().trim() === '1'
    case 'dateTime.iso8601':
      return text().trim()
    case 'base64':
      return Buffer.from(text(), 'base64').toString('utf8')
    case 'nil':
      return null
    case 'array': {
      const data = childElements(typed).find((e) => e.name === 'data')
      return data === undefined ? [] : childElements(data).map(decodeValue)
    }
    case 'struct': {
      const result: Record<string, unknown> = {}
      for (const member of childElements(typed)) {
        if (member.name !== 'member') throw new XmlSyntaxError(`expected <member>, got <${member.name}>`, 0)
        const parts = childElements(member)
        const name = parts.find((e) => e.name === 'name')
        const memberValue = parts.find((e) => e.name === 'value')
        if (name === undefined || memberValue === undefined) throw new XmlSyntaxError('incomplete <member>', 0)
        result[textOf(name)] = decodeValue(memberValue)
      }
      return result
    }
    default:
      throw new XmlSyntaxError(`unknown XML-RPC type <${typed.name}>`, 0)
  }
}

/** Decodes a standalone value fragment such as a task `result`. */
export function decodeValueFragment(xml: string): unknown {
  return decodeValue(parseXml(xml))
}

/** Encodes a value of a known XAPI type as an XML-RPC `<value>` fragment. */
export function encodeValue(value: unknown, type: XapiType, recordTypes: RecordTypesLookup): string {
  const parts: string[] = []
  writeValue(parts, value, type, recordTypes)
  return parts.join('')
}

function writeValue(out: string[], value: unknown, type: XapiType, recordTypes: RecordTypesLookup): void {
  switch (type.kind) {
    case 'string':
    case 'enum':
    case 'ref':
    case 'void':
      out.push('<value>', escapeXmlText(value === undefined || value === null ? '' : String(value)), '</value>')
      return
    case 'int':
      out.push('<value>', String(Math.trunc(Number(value))), '</value>')
      return
    case 'int32':
      out.push('<value><i4>', String(Math.trunc(Number(value))), '</i4></value>')
      return
    case 'float':
      out.push('<value><double>', formatDouble(Number(value)), '</double></value>')
      return
    case 'bool':
      out.push('<value><boolean>', value === true ? '1' : '0', '</boolean></value>')
      return
    case 'datetime':
      out.push('<value><dateTime.iso8601>', escapeXmlText(String(value)), '</dateTime.iso8601></value>')
      return
    case 'set':
      out.push('<value><array><data>')
      for (const item of Array.isArray(value) ? value : []) writeValue(out, item, type.of, recordTypes)
      out.push('</data></array></value>')
      return
    case 'map':
      out.push('<value><struct>')
      for (const [key, item] of Object.entries(asObject(value))) {
        out.push('<member><name>', escapeXmlText(key), '</name>')
        writeValue(out, item, type.value, recordTypes)
        out.push('</member>')
      }
      out.push('</struct></value>')
      return
    case 'record':
      writeStruct(out, asObject(value), recordTypes(type.cls), recordTypes)
      return
    case 'struct':
      writeStruct(out, asObject(value), type.fields, recordTypes)
      return
    case 'event': {
      const event = asObject(value)
      const fields: Record<string, XapiType> = { ...EVENT_FIELDS }
      if (event.snapshot !== undefined) fields.snapshot = { kind: 'record', cls: String(event.class) }
      writeStruct(out, event, fields, recordTypes)
      return
    }
  }
}

const STRING: XapiType = { kind: 'string' }
const EVENT_FIELDS: Readonly<Record<string, XapiType>> = {
  id: STRING,
  timestamp: STRING,
  class: STRING,
  operation: STRING,
  ref: STRING,
}

function writeStruct(
  out: string[],
  value: Readonly<Record<string, unknown>>,
  fields: Readonly<Record<string, XapiType>>,
  recordTypes: RecordTypesLookup,
): void {
  out.push('<value><struct>')
  for (const [name, fieldType] of Object.entries(fields)) {
    if (!(name in value)) continue
    out.push('<member><name>', name, '</name>')
    writeValue(out, value[name], fieldType, recordTypes)
    out.push('</member>')
  }
  out.push('</struct></value>')
}

function asObject(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
}

/** OCaml's `%.16g`. */
function formatDouble(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  return String(Number(n.toPrecision(16)))
}

const RESPONSE_HEAD = '<?xml version="1.0"?><methodResponse><params><param>'
const RESPONSE_TAIL = '</param></params></methodResponse>'

/** A successful XAPI response: `{Status: "Success", Value: <value>}`. */
export function encodeSuccessResponse(valueFragment: string): string {
  return `${RESPONSE_HEAD}<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${valueFragment}</member></struct></value>${RESPONSE_TAIL}`
}

/** A failed XAPI response: `{Status: "Failure", ErrorDescription: [code, ...params]}`. */
export function encodeFailureResponse(code: string, params: readonly string[]): string {
  const items = [code, ...params].map((s) => `<value>${escapeXmlText(s)}</value>`).join('')
  return `${RESPONSE_HEAD}<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>${items}</data></array></value></member></struct></value>${RESPONSE_TAIL}`
}

/** `system.listMethods` answers with the bare value, without the Status wrapper (as XAPI does). */
export function encodeBareResponse(valueFragment: string): string {
  return `${RESPONSE_HEAD}${valueFragment}${RESPONSE_TAIL}`
}
