// Reads the firewall's rules from its config into per-field value intervals for the
// classifier, refusing (with the field's JSON path) anything that could never match or that
// the user likely did not mean. A rule's family follows what it names, as in an nftables
// inet chain: IPv4 addresses or icmp (1) make it IPv4's, IPv6 addresses or icmpv6 (58)
// IPv6's, and a rule naming neither (`tcp dport 22`) matches both.

import type { NFEnv } from '../../xio/nf-types.ts'
import type { Cidr, Cidr6 } from '../../packet/address.ts'
import { prefixMask } from '../../packet/address.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/ipv4.ts'
import { IPPROTO_ICMPV6 } from '../../packet/ipv6.ts'
import { arrayAt, fail, ipCidrListAt, objectAt, oneOf, portSetAt, protoAt, show, type IpCidrList, type Json } from '../lib/config.ts'
import type { RuleFields } from './classifier.ts'

/** The IP versions a rule matches: 4, 6, or both. */
export const FAMILY_ANY = 0

/** A rule's fields; src and dst are IPv4 intervals (null for an IPv6 rule, whose prefixes are src6 and dst6). */
export interface CompiledRule extends RuleFields {
  allow: boolean
  family: 0 | 4 | 6
  src6: Cidr6[] | null
  dst6: Cidr6[] | null
}

const RULE_FIELDS = ['action', 'proto', 'src', 'dst', 'srcPort', 'dstPort', 'in', 'comment'] as const

function cidrIntervals(list: Cidr[]): Array<[number, number]> {
  return list.map(c => {
    const lo = (c.addr & prefixMask(c.prefix)) >>> 0
    const hi = (lo + 2 ** (32 - c.prefix) - 1)
    return [lo, hi]
  })
}

export function compileRule(v: Json, path: string, env: NFEnv): CompiledRule {
  const o = objectAt(v, path, RULE_FIELDS)
  if (o.action === undefined) fail(`${path}/action`, 'missing; expected "allow" or "drop"')
  const allow = oneOf(o.action, `${path}/action`, ['allow', 'drop']) === 'allow'
  let proto: number | null = null
  if (o.proto !== undefined) proto = protoAt(o.proto, `${path}/proto`)
  const ports = (k: 'srcPort' | 'dstPort') => {
    if (o[k] === undefined) return null
    if (proto !== null && proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) {
      fail(`${path}/${k}`, `ports only exist for tcp and udp, but this rule has proto ${show(o.proto)}`)
    }
    return portSetAt(o[k], `${path}/${k}`)
  }
  const srcPort = ports('srcPort')
  const dstPort = ports('dstPort')
  let inIds: Array<[number, number]> | null = null
  if (o.in !== undefined) {
    const names = Array.isArray(o.in) ? o.in : [o.in]
    if (names.length === 0) fail(`${path}/in`, 'expected at least one endpoint name')
    inIds = names.map((n, i) => {
      const p = Array.isArray(o.in) ? `${path}/in/${i}` : `${path}/in`
      if (typeof n !== 'string') fail(p, `expected an endpoint name, got ${show(n)}`)
      const id = env.endpointId(n)
      if (id < 0) fail(p, `no endpoint named "${n}" in this chain`)
      return [id, id]
    })
  }
  if (o.comment !== undefined && typeof o.comment !== 'string') fail(`${path}/comment`, `expected a string, got ${show(o.comment)}`)
  const src = o.src === undefined ? null : ipCidrListAt(o.src, `${path}/src`)
  const dst = o.dst === undefined ? null : ipCidrListAt(o.dst, `${path}/dst`)
  const family = ruleFamily(src, dst, proto, o.proto, path)
  return {
    allow,
    family,
    // A port constraint without a protocol means "tcp or udp", the protocols that have them.
    proto: proto !== null ? [[proto, proto]] : srcPort || dstPort ? [[IPPROTO_TCP, IPPROTO_TCP], [IPPROTO_UDP, IPPROTO_UDP]] : null,
    src: src?.family === 4 ? cidrIntervals(src.list) : null,
    dst: dst?.family === 4 ? cidrIntervals(dst.list) : null,
    src6: src?.family === 6 ? src.list : null,
    dst6: dst?.family === 6 ? dst.list : null,
    srcPort,
    dstPort,
    in: inIds,
  }
}

/** The family the rule's addresses and protocol name, refusing a rule that names both. */
function ruleFamily(src: IpCidrList | null, dst: IpCidrList | null, proto: number | null, given: Json, path: string): 0 | 4 | 6 {
  if (src !== null && dst !== null && src.family !== dst.family) {
    fail(`${path}/dst`, `dst is IPv${dst.family} but src is IPv${src.family}: a rule's addresses are of one family; write a rule for each`)
  }
  const addresses = src ?? dst
  const byProto = proto === IPPROTO_ICMP ? 4 : proto === IPPROTO_ICMPV6 ? 6 : FAMILY_ANY
  if (addresses !== null && byProto !== FAMILY_ANY && addresses.family !== byProto) {
    const field = src !== null ? 'src' : 'dst'
    fail(`${path}/proto`, `proto ${show(given)} is IPv${byProto}'s but this rule's ${field} is IPv${addresses.family}: use "${byProto === 4 ? 'icmpv6' : 'icmp'}", or a rule per family`)
  }
  return addresses?.family ?? byProto
}

export function compileRules(v: Json, path: string, env: NFEnv): CompiledRule[] {
  if (v === undefined) return []
  return arrayAt(v, path).map((r, i) => compileRule(r, `${path}/${i}`, env))
}
