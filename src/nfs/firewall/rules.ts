// Reads the firewall's rules from its config into per-field value intervals for the
// classifier, refusing (with the field's JSON path) anything that could never match or that
// the user likely did not mean.

import type { NFEnv } from '../../xio/nf-types.ts'
import type { Cidr } from '../../packet/address.ts'
import { prefixMask } from '../../packet/address.ts'
import { IPPROTO_TCP, IPPROTO_UDP } from '../../packet/ipv4.ts'
import { arrayAt, cidrListAt, fail, objectAt, oneOf, portSetAt, protoAt, show, type Json } from '../lib/config.ts'
import type { RuleFields } from './classifier.ts'

export interface CompiledRule extends RuleFields {
  allow: boolean
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
  return {
    allow,
    // A port constraint without a protocol means "tcp or udp", the protocols that have them.
    proto: proto !== null ? [[proto, proto]] : srcPort || dstPort ? [[IPPROTO_TCP, IPPROTO_TCP], [IPPROTO_UDP, IPPROTO_UDP]] : null,
    src: o.src === undefined ? null : cidrIntervals(cidrListAt(o.src, `${path}/src`)),
    dst: o.dst === undefined ? null : cidrIntervals(cidrListAt(o.dst, `${path}/dst`)),
    srcPort,
    dstPort,
    in: inIds,
  }
}

export function compileRules(v: Json, path: string, env: NFEnv): CompiledRule[] {
  if (v === undefined) return []
  return arrayAt(v, path).map((r, i) => compileRule(r, `${path}/${i}`, env))
}
