// `xio-chain capture --filter`: which copies to keep, in the firewall's rule vocabulary (proto,
// src, dst, srcPort, dstPort, in), matched by the firewall's own code, so a filter means
// exactly what the same fields mean in a firewall rule (IPv4 and IPv6, ports past IPv6
// extension headers, no ports on non-first fragments, a rule's family from what it names).
//
// Written as tcpdump users write filters, or as JSON rule fields:
//
//   tcp and dst 10.0.0.0/8 and dstPort 80        one rule: every field must match
//   udp port 53 or icmp                           alternatives: any rule may match
//   proto 6 and src 10.0.0.0/24,10.1.0.0/24       lists: any of them
//   tcp dst port 8000-8499                        and may be left out between fields
//   host 2001:db8::1                              host/net A = src A or dst A; port P = srcPort P or dstPort P
//   in lan                                        entered the chain at endpoint lan
//   '{"proto": "tcp", "dstPort": [80, 443]}'      JSON: a rule's fields, or a list of rules
//
// Keywords: tcp udp icmp icmpv6 | proto P | src, dst, host, net A (src host, dst net... too) |
// srcPort (sport, src port), dstPort (dport, dst port), port P | in NAME | and (&&) | or (||).
// `not` and parentheses are not rules' vocabulary and are refused, saying so.
import firewall from '../nfs/firewall/index.ts'
import { DROP, NFConfigError, type NFEnv, type NFInstance, type Packet } from '../xio/nf-types.ts'
import { didYouMean } from '../chain/suggest.ts'

export class FilterError extends Error {}

type Rule = Record<string, unknown>

const FIELDS = ['proto', 'src', 'dst', 'srcPort', 'dstPort', 'in'] as const
const MAX_RULES = 64

/** The filter as firewall rules (without action): a packet is kept if any matches. */
export function filterRules(text: string): Rule[] {
  return spelledRules(text).rules
}

/**
 * The rules, and for each the word the filter said each of its fields with ('port 53' gives
 * srcPort and dstPort, both said as 'port'), so that a mistake is blamed on what was written.
 */
function spelledRules(text: string): { rules: Rule[]; said: Record<string, string>[] } {
  const trimmed = text.trim()
  if (!trimmed) throw new FilterError('--filter: empty; give fields such as "tcp and dstPort 80", or leave --filter out to keep everything')
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    const rules = jsonRules(trimmed)
    return { rules, said: rules.map(() => ({})) }
  }
  return expressionRules(trimmed)
}

function jsonRules(text: string): Rule[] {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    throw new FilterError(`--filter: not valid JSON: ${(e as Error).message}`)
  }
  const list = Array.isArray(v) ? v : [v]
  if (!list.length) throw new FilterError('--filter: an empty list of rules matches nothing')
  return list.map((r, i) => {
    const where = Array.isArray(v) ? ` (rule ${i})` : ''
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new FilterError(`--filter${where}: expected an object of rule fields (${FIELDS.join(', ')})`)
    if ('action' in r) throw new FilterError(`--filter${where}: a filter has no action: it keeps what its fields match`)
    return r as Rule
  })
}

const PROTOS = ['tcp', 'udp', 'icmp', 'icmpv6']
/** Every word a filter knows, as a refusal lists them. */
const VOCABULARY = [...PROTOS, 'proto', 'src', 'dst', 'host', 'net', 'srcPort', 'dstPort', 'port', 'in', 'and', 'or']

function tokens(text: string): string[] {
  // Operators may touch their operands: "tcp&&dst 10.0.0.1".
  return text.replace(/(&&|\|\||[()!])/g, ' $1 ').split(/\s+/).filter(Boolean)
}

function expressionRules(text: string): { rules: Rule[]; said: Record<string, string>[] } {
  const words = tokens(text)
  let i = 0
  const value = (what: string, keyword: string): string => {
    const v = words[i++]
    if (v === undefined || ['and', 'or', '&&', '||'].includes(v.toLowerCase())) throw new FilterError(`--filter: '${keyword}' wants ${what} after it`)
    return v
  }
  const list = (v: string) => {
    const items = v.split(',').filter(Boolean)
    return items.length === 1 ? items[0] : items
  }
  const ports = (v: string) => {
    const items = v.split(',').filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p))
    return items.length === 1 ? items[0] : items
  }
  // Each term is a set of alternatives (host A: src A, or dst A).
  const term = (): Rule[] => {
    const word = words[i++]
    const w = word.toLowerCase()
    if (w === 'not' || w === '!' || w === '(' || w === ')')
      throw new FilterError(`--filter: '${word}' is not in a filter's vocabulary: it is firewall rules, fields joined by 'and', alternatives by 'or'`)
    if (PROTOS.includes(w)) return [{ proto: w }]
    if (w === 'proto') {
      const p = value('a protocol (tcp, udp, icmp, icmpv6 or a number)', word)
      return [{ proto: /^\d+$/.test(p) ? Number(p) : p.toLowerCase() }]
    }
    if (w === 'src' || w === 'dst') {
      const next = words[i]?.toLowerCase()
      if (next === 'port') {
        i++
        return [{ [`${w}Port`]: ports(value('ports', `${w} port`)) }]
      }
      if (next === 'host' || next === 'net') i++
      return [{ [w]: list(value('an address or prefix', word)) }]
    }
    if (w === 'host' || w === 'net') {
      const a = list(value('an address or prefix', word))
      return [{ src: a }, { dst: a }]
    }
    if (w === 'srcport' || w === 'sport') return [{ srcPort: ports(value('ports', word)) }]
    if (w === 'dstport' || w === 'dport') return [{ dstPort: ports(value('ports', word)) }]
    if (w === 'port') {
      const p = ports(value('ports', word))
      return [{ srcPort: p }, { dstPort: p }]
    }
    if (w === 'in') return [{ in: list(value('an endpoint name', word)) }]
    throw new FilterError(`--filter: unknown word '${word}'${didYouMean(word, VOCABULARY)}; a filter takes ${VOCABULARY.join(', ')}`)
  }
  const rules: Rule[] = []
  const said: Record<string, string>[] = []
  for (;;) {
    // One alternative: terms joined by 'and' (or written side by side), multiplied out.
    let alternatives: { rule: Rule; said: Record<string, string> }[] = [{ rule: {}, said: {} }]
    for (;;) {
      const start = i
      const choices = term()
      // What the term said its field with: its keywords, without the value ('dst port').
      const word = words.slice(start, Math.max(start + 1, i - 1)).join(' ')
      const product: typeof alternatives = []
      for (const a of alternatives)
        for (const c of choices) {
          const [field] = Object.keys(c)
          if (field in a.rule) throw new FilterError(`--filter: '${field}' is given twice in one alternative; give a list instead (${field} a,b) or use 'or'`)
          product.push({ rule: { ...a.rule, ...c }, said: { ...a.said, [field]: word } })
        }
      alternatives = product
      if (rules.length + alternatives.length > MAX_RULES) throw new FilterError(`--filter: more than ${MAX_RULES} rules once host and port are spelled out; simplify it`)
      const next = words[i]?.toLowerCase()
      if (next === undefined || next === 'or' || next === '||') break
      if (next === 'and' || next === '&&') {
        i++
        if (words[i] === undefined) throw new FilterError(`--filter: '${words[i - 1]}' at the end wants a field after it`)
      }
    }
    for (const a of alternatives) {
      rules.push(a.rule)
      said.push(a.said)
    }
    if (i >= words.length) break
    i++  // or
    if (i >= words.length) throw new FilterError(`--filter: '${words[i - 1]}' at the end wants a field after it`)
  }
  return { rules, said }
}

/** A compiled filter: keep(bytes, at, length, inPort) says whether a frame matches. */
export interface Filter {
  keep(bytes: Uint8Array, view: DataView, at: number, length: number, inPort: number): boolean
}

/**
 * Compiles the rules with the firewall itself (allow each, drop the rest, non-IP frames too),
 * so its checks say what is wrong with a field. `endpointId` resolves `in` names.
 */
export function compileFilter(text: string, endpointId: (name: string) => number): Filter {
  const { rules, said } = spelledRules(text)
  const env: NFEnv = { endpointId, gateTarget: () => -1, now: () => 0 }
  let nf: NFInstance
  try {
    nf = firewall.create({ default: 'drop', nonIp: 'drop', flowCacheSize: 1024, rules: rules.map((r) => ({ action: 'allow', ...r })) } as never, env)
  } catch (e) {
    if (!(e instanceof NFConfigError)) throw e
    // /rules/<i>/<field>...: the field as the filter said it (port, not the srcPort it gives).
    const m = /^\/rules\/(\d+)(\/.*)?$/.exec(e.path)
    const path = m?.[2]?.slice(1) || ''
    const field = said[Number(m?.[1])]?.[path.split('/')[0]] ?? path
    const message = e.message.slice(e.path.length + 2)
    throw new FilterError(`--filter: ${field ? `${field}: ` : ''}${message}`)
  }
  const p: Packet = { bytes: new Uint8Array(0), view: new DataView(new ArrayBuffer(0)), d: 0, at: 0, length: 0, from: 0, inPort: 0, flowHash: 0, handoff: -1 }
  return {
    keep(bytes, view, at, length, inPort) {
      p.bytes = bytes
      p.view = view
      p.at = at
      p.length = length
      p.inPort = inPort
      return nf.process(p) !== DROP
    },
  }
}
