import { parseXml as clientParseXml } from '@vates/xml/parse'
import { xmlRpcParser } from '@vates/xml-rpc/parser'
import { describe, expect, it } from 'vitest'
import { parseXapiType } from '../../simulator/model/types'
import { formatXapiDateTime, parseXapiDateTime } from '../../simulator/model/values'
import { parseJsonRpcRequest } from '../../simulator/wire/jsonrpc'
import { parseXml, XmlSyntaxError } from '../../simulator/wire/xml'
import { decodeMethodCall, decodeValueFragment, encodeFailureResponse, encodeValue } from '../../simulator/wire/xmlrpc'

const noRecords = () => ({})

/** What the xen-api client makes of a value fragment (the same parser it uses for task results). */
function clientDecode(fragment: string): unknown {
  return xmlRpcParser.parse_value(clientParseXml(`${fragment}\n`, { normalize: false, trim: false }))
}

describe('XML reader', () => {
  it('reads elements, attributes, entities, CDATA and self-closing tags', () => {
    const root = parseXml(
      `<?xml version="1.0"?><!-- c --><a x="1 &amp; 2" y='&#65;'><b/>t&lt;&#x3e;&quot;<![CDATA[<raw>]]></a>`,
    )
    expect(root).toEqual({
      name: 'a',
      attributes: { x: '1 & 2', y: 'A' },
      children: [{ name: 'b', attributes: {}, children: [] }, 't<>"', '<raw>'],
    })
  })

  it('says where a document is broken', () => {
    expect(() => parseXml('<a><b></a>')).toThrow(XmlSyntaxError)
    expect(() => parseXml('<a>')).toThrow(/<a> is not closed/)
    expect(() => parseXml('<a>&nope;</a>')).toThrow(/unknown entity &nope;/)
    expect(() => parseXml('<a/><b/>')).toThrow(/more than one root/)
  })
})

describe('XML-RPC encoding, read back by the client parser', () => {
  const cases: [string, unknown, unknown][] = [
    ['string', 'a <b> & "c"', 'a <b> & "c"'],
    ['string', '', ''],
    ['int', 10737418240, '10737418240'],
    ['float', 0.25, 0.25],
    ['bool', true, true],
    ['datetime', '20250319T04:16:24Z', new Date('2025-03-19T04:16:24Z')],
    ['VM ref set', ['OpaqueRef:a', 'OpaqueRef:b'], ['OpaqueRef:a', 'OpaqueRef:b']],
    ['(string -> string) map', { 'k&': 'v' }, { 'k&': 'v' }],
    ['(string -> int) map', { a: 1 }, { a: '1' }],
  ]
  it.each(cases)('%s', (type, value, expected) => {
    const fragment = encodeValue(value, parseXapiType(type), noRecords)
    expect(clientDecode(fragment)).toEqual(expected)
  })

  it('writes ints as bare strings, int32 as <i4>, floats with %.16g, as XAPI does', () => {
    expect(encodeValue(3, parseXapiType('int'), noRecords)).toBe('<value>3</value>')
    expect(encodeValue(3, { kind: 'int32' }, noRecords)).toBe('<value><i4>3</i4></value>')
    expect(encodeValue(0.1 + 0.2, parseXapiType('float'), noRecords)).toBe('<value><double>0.3</double></value>')
    expect(encodeValue('', { kind: 'void' }, noRecords)).toBe('<value></value>')
  })

  it('drops control characters XML cannot carry', () => {
    expect(encodeValue('a\u0001b\tc', parseXapiType('string'), noRecords)).toBe('<value>ab\tc</value>')
  })

  it('encodes records with the types of their class', () => {
    const fragment = encodeValue({ uuid: 'u', size: 5, public: false }, { kind: 'record', cls: 'blob' }, () => ({
      uuid: parseXapiType('string'),
      size: parseXapiType('int'),
      public: parseXapiType('bool'),
    }))
    expect(fragment).toBe(
      '<value><struct><member><name>uuid</name><value>u</value></member><member><name>size</name><value>5</value></member><member><name>public</name><value><boolean>0</boolean></value></member></struct></value>',
    )
  })

  it('writes failures as ErrorDescription arrays', () => {
    const response = encodeFailureResponse('HANDLE_INVALID', ['VM', 'OpaqueRef:x'])
    const parsed = xmlRpcParser.parse(clientParseXml(response, { normalize: false, trim: false })) as {
      params: unknown[]
    }
    expect(parsed.params[0]).toEqual({ Status: 'Failure', ErrorDescription: ['HANDLE_INVALID', 'VM', 'OpaqueRef:x'] })
  })
})

describe('XML-RPC decoding', () => {
  it('reads what XAPI reads: bare strings, typed values, empty forms', () => {
    const call = decodeMethodCall(
      '<?xml version="1.0"?><methodCall><methodName>X.y</methodName><params>' +
        [
          '<value>text</value>',
          '<value/>',
          '<value><string/></value>',
          '<value><i4>7</i4></value>',
          '<value><i8>-2</i8></value>',
          '<value><boolean>1</boolean></value>',
          '<value><double>1.5</double></value>',
          '<value><array><data /></array></value>',
          '<value><struct><member><name>a</name><value>b</value></member></struct></value>',
          '<value><nil/></value>',
          '<value>\n  <int>3</int>\n</value>',
        ]
          .map((v) => `<param>${v}</param>`)
          .join('') +
        '</params></methodCall>',
    )
    expect(call).toEqual({ methodName: 'X.y', params: ['text', '', '', 7, -2, true, 1.5, [], { a: 'b' }, null, 3] })
  })

  it('reads back a task result fragment', () => {
    expect(decodeValueFragment('<value><array><data><value>OpaqueRef:x</value></data></array></value>')).toEqual([
      'OpaqueRef:x',
    ])
  })
})

describe('JSON-RPC requests', () => {
  it('tells v1 from v2 and accepts object params in v2', () => {
    expect(parseJsonRpcRequest('{"id":1,"method":"a","params":[1]}')).toEqual({
      version: 1,
      id: 1,
      method: 'a',
      params: [1],
    })
    expect(parseJsonRpcRequest('{"jsonrpc":"2.0","id":"x","method":"a"}')).toEqual({
      version: 2,
      id: 'x',
      method: 'a',
      params: [],
    })
    expect(parseJsonRpcRequest('{"jsonrpc":"2.0","id":2,"method":"a","params":{"k":1}}').params).toEqual([{ k: 1 }])
  })

  it('refuses notifications, odd ids and bad members', () => {
    for (const body of [
      '{"jsonrpc":"2.0","method":"a","params":[]}',
      '{"id":null,"method":"a","params":[]}',
      '{"id":1.5,"method":"a","params":[]}',
      '{"id":1,"method":2,"params":[]}',
      '{"jsonrpc":"1.0","id":1,"method":"a"}',
      '{"id":1,"method":"a"}',
    ]) {
      expect(() => parseJsonRpcRequest(body), body).toThrow()
    }
  })
})

describe('dates', () => {
  it('are written as XAPI writes them and read in its forms', () => {
    expect(formatXapiDateTime(new Date(Date.UTC(2025, 2, 9, 4, 6, 7)))).toBe('20250309T04:06:07Z')
    expect(parseXapiDateTime('20250309T04:06:07Z')).toBe('20250309T04:06:07Z')
    expect(parseXapiDateTime('2025-03-09T04:06:07.123Z')).toBe('20250309T04:06:07Z')
    expect(parseXapiDateTime(new Date(0))).toBe('19700101T00:00:00Z')
    expect(parseXapiDateTime('yesterday')).toBeUndefined()
  })
})
