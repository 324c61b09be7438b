// Minimal typings for the XML and XML-RPC parsers the xen-api client uses (dependencies of xen-api);
// tests use them to check that what the simulator writes reads back as the client reads it.
declare module '@vates/xml/parse' {
  export interface XmlNode {
    name: string
    attributes: Record<string, string>
    children: (XmlNode | string)[]
  }
  export function parseXml(xml: string, options?: { normalize?: boolean; strict?: boolean; trim?: boolean }): XmlNode
}

declare module '@vates/xml-rpc/parser' {
  import type { XmlNode } from '@vates/xml/parse'
  export const xmlRpcParser: {
    parse(node: XmlNode): unknown
    parse_value(node: XmlNode): unknown
  }
}
