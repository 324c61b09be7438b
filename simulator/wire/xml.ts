/**
 * A small XML reader: enough for XML-RPC calls and the XVA `ova.xml` (elements, attributes, text,
 * entities, CDATA, comments, declarations). No DTDs, no namespaces.
 */
export interface XmlElement {
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
  readonly children: readonly XmlNode[]
}

export type XmlNode = XmlElement | string

export class XmlSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`XML syntax error at offset ${offset}: ${message}`)
    this.name = 'XmlSyntaxError'
  }
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y
const ATTRIBUTE = /\s+([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/y
const NAMED_ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

/** Parses a document and returns its root element. */
export function parseXml(text: string): XmlElement {
  const root: { name: string; attributes: Record<string, string>; children: XmlNode[] }[] = []
  let result: XmlElement | undefined
  let i = 0
  const fail = (message: string): never => {
    throw new XmlSyntaxError(message, i)
  }
  while (i < text.length) {
    const lt = text.indexOf('<', i)
    if (lt === -1 || lt > i) {
      const end = lt === -1 ? text.length : lt
      const raw = text.slice(i, end)
      const top = root[root.length - 1]
      if (top !== undefined) top.children.push(decodeEntities(raw, i))
      else if (raw.trim() !== '') fail('text outside the root element')
      i = end
      continue
    }
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i)
      if (end === -1) fail('unterminated processing instruction')
      i = end + 2
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i)
      if (end === -1) fail('unterminated comment')
      i = end + 3
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i)
      if (end === -1) fail('unterminated CDATA section')
      const top = root[root.length - 1] ?? fail('CDATA outside the root element')
      top.children.push(text.slice(i + 9, end))
      i = end + 3
    } else if (text.startsWith('<!', i)) {
      const end = text.indexOf('>', i)
      if (end === -1) fail('unterminated declaration')
      i = end + 1
    } else if (text.startsWith('</', i)) {
      NAME.lastIndex = i + 2
      const name = NAME.exec(text)?.[0] ?? fail('bad closing tag')
      const close = text.indexOf('>', i)
      if (close === -1 || text.slice(i + 2 + name.length, close).trim() !== '') fail(`bad closing tag </${name}`)
      const open = root.pop()
      if (open === undefined || open.name !== name) fail(`unexpected </${name}>`)
      i = close + 1
      const element = open as XmlElement
      const parent = root[root.length - 1]
      if (parent !== undefined) parent.children.push(element)
      else if (result !== undefined) fail('more than one root element')
      else result = element
    } else {
      NAME.lastIndex = i + 1
      const name = NAME.exec(text)?.[0] ?? fail('bad tag name')
      let j = i + 1 + name.length
      const attributes: Record<string, string> = {}
      for (;;) {
        ATTRIBUTE.lastIndex = j
        const match = ATTRIBUTE.exec(text)
        if (match === null) break
        attributes[match[1]!] = decodeEntities(match[2] ?? match[3] ?? '', j)
        j = ATTRIBUTE.lastIndex
      }
      while (j < text.length && /\s/.test(text[j]!)) j++
      const selfClosing = text.startsWith('/>', j)
      if (!selfClosing && text[j] !== '>') {
        i = j
        fail(`bad tag <${name}`)
      }
      i = j + (selfClosing ? 2 : 1)
      const element = { name, attributes, children: [] as XmlNode[] }
      if (selfClosing) {
        const parent = root[root.length - 1]
        if (parent !== undefined) parent.children.push(element)
        else if (result !== undefined) fail('more than one root element')
        else result = element
      } else {
        if (root.length === 0 && result !== undefined) fail('more than one root element')
        root.push(element)
      }
    }
  }
  if (root.length > 0) fail(`<${root[root.length - 1]!.name}> is not closed`)
  return result ?? fail('no root element')
}

function decodeEntities(raw: string, offset: number): string {
  if (!raw.includes('&')) return raw
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (whole, entity: string | undefined) => {
    if (entity === undefined) throw new XmlSyntaxError('a bare & (write &amp;)', offset)
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16))
    if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10))
    const named = NAMED_ENTITIES[entity]
    if (named === undefined) throw new XmlSyntaxError(`unknown entity ${whole}`, offset)
    return named
  })
}

/**
 * Escapes text the way XAPI's XML-RPC writer does: `< > & "` become entities and control characters
 * other than tab, LF and CR are dropped (XML cannot carry them).
 */
export function escapeXmlText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: dropping control characters is the point
  return text.replace(/[<>&"\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => {
    switch (c) {
      case '<':
        return '&lt;'
      case '>':
        return '&gt;'
      case '&':
        return '&amp;'
      case '"':
        return '&quot;'
      default:
        return ''
    }
  })
}

/** The elements among a node's children (whitespace text between them is ignored). */
export function childElements(element: XmlElement): XmlElement[] {
  return element.children.filter((child): child is XmlElement => typeof child !== 'string')
}

/** The text content of an element whose children are all text. */
export function textOf(element: XmlElement): string {
  return element.children.map((child) => (typeof child === 'string' ? child : textOf(child))).join('')
}
