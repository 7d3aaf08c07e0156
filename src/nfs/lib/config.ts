// Config readers shared by the NFs: each checks one field of the chain spec's config and
// throws NFConfigError naming its JSON path (e.g. /rules/2/dstPort) and what was expected.
// Config time only: these allocate freely.

import { NFConfigError } from '../../xio/nf-types.ts'
import { type Cidr, type Cidr6, parseCidr, parseCidr6, parseIpv4, parseMac } from '../../packet/address.ts'

export type Json = unknown

export function fail(path: string, message: string): never {
  throw new NFConfigError(path || '/', message)
}

export function show(v: Json): string {
  return JSON.stringify(v) ?? String(v)
}

/** A JSON object; keys outside `known` are refused, so a typo ("dst_port") is not silently ignored. */
export function objectAt(v: Json, path: string, known: readonly string[]): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `expected an object, got ${show(v)}`)
  const o = v as Record<string, Json>
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) fail(`${path}/${k}`, `unknown field; expected one of ${known.join(', ')}`)
  }
  return o
}

export function arrayAt(v: Json, path: string): Json[] {
  if (!Array.isArray(v)) fail(path, `expected a list, got ${show(v)}`)
  return v
}

export function oneOf<T extends string>(v: Json, path: string, choices: readonly T[]): T {
  if (typeof v !== 'string' || !choices.includes(v as T)) fail(path, `expected ${choices.map(c => `"${c}"`).join(' or ')}, got ${show(v)}`)
  return v as T
}

export function booleanAt(v: Json, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `expected true or false, got ${show(v)}`)
  return v
}

export function integerAt(v: Json, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `expected an integer from ${min} to ${max}, got ${show(v)}`)
  return v
}

export function positiveAt(v: Json, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(path, `expected a positive number, got ${show(v)}`)
  return v
}

export function ipv4At(v: Json, path: string): number {
  const a = typeof v === 'string' ? parseIpv4(v) : null
  if (a === null) fail(path, `expected an IPv4 address like "192.0.2.1", got ${show(v)}`)
  return a
}

export function cidrAt(v: Json, path: string): Cidr {
  const c = typeof v === 'string' ? parseCidr(v) : null
  if (c === null) {
    fail(path, `expected an IPv4 address or prefix like "10.0.0.0/8" (host bits zero), got ${show(v)}`)
  }
  return c
}

/** An address or prefix, or a non-empty list of them. */
export function cidrListAt(v: Json, path: string): Cidr[] {
  if (!Array.isArray(v)) return [cidrAt(v, path)]
  if (v.length === 0) fail(path, 'expected at least one address or prefix')
  return v.map((x, i) => cidrAt(x, `${path}/${i}`))
}

/** Addresses or prefixes of one family, as a rule's src or dst gives them. */
export type IpCidrList = { family: 4; list: Cidr[] } | { family: 6; list: Cidr6[] }

/** An IPv4 or IPv6 address or prefix, or a non-empty list of them, all of one family. */
export function ipCidrListAt(v: Json, path: string): IpCidrList {
  const items = Array.isArray(v) ? v : [v]
  if (items.length === 0) fail(path, 'expected at least one address or prefix')
  const v4: Cidr[] = []
  const v6: Cidr6[] = []
  items.forEach((x, i) => {
    const p = Array.isArray(v) ? `${path}/${i}` : path
    const c4 = typeof x === 'string' ? parseCidr(x) : null
    const c6 = c4 === null && typeof x === 'string' ? parseCidr6(x) : null
    if (c4 === null && c6 === null) {
      fail(p, `expected an IPv4 or IPv6 address or prefix like "10.0.0.0/8" or "2001:db8::/32" (host bits zero), got ${show(x)}`)
    }
    if (c4 !== null) v4.push(c4)
    else v6.push(c6!)
    if (v4.length > 0 && v6.length > 0) {
      fail(p, `${show(x)} is ${c4 ? 'IPv4' : 'IPv6'} but ${show(items[0])} is ${c4 ? 'IPv6' : 'IPv4'}: a list holds one family; write a rule per family`)
    }
  })
  return v4.length > 0 ? { family: 4, list: v4 } : { family: 6, list: v6 }
}

export function macAt(v: Json, path: string): Uint8Array {
  const m = typeof v === 'string' ? parseMac(v) : null
  if (m === null) fail(path, `expected a MAC address like "02:00:00:00:00:01", got ${show(v)}`)
  return m
}

export function portAt(v: Json, path: string): number {
  return integerAt(v, path, 0, 65535)
}

/** [low, high], both ports, low <= high. */
export function portRangeAt(v: Json, path: string): [number, number] {
  const a = arrayAt(v, path)
  if (a.length !== 2) fail(path, `expected a range [low, high], got ${show(v)}`)
  const lo = portAt(a[0], `${path}/0`)
  const hi = portAt(a[1], `${path}/1`)
  if (lo > hi) fail(path, `range low ${lo} is above high ${hi}`)
  return [lo, hi]
}

/**
 * A port (80), a range ([1024, 65535]), or a list of ports and ranges ([22, [80, 89], 443]).
 * A list of exactly two plain numbers is a range, as the field's grammar says: to list two
 * single ports write [[80, 80], [443, 443]] or [80, [443, 443]].
 */
/**
 * Ports as a rule names them: a port (22), a range as a string ("8000-8499"), or a list of
 * those ([80, 443, "8000-8499"]). A list is always a list: [80, 443] is two ports, never the
 * ports between them.
 */
export function portSetAt(v: Json, path: string): Array<[number, number]> {
  if (!Array.isArray(v)) return [portOrRangeAt(v, path)]
  if (v.length === 0) fail(path, 'expected at least one port or range')
  return v.map((x, i) => portOrRangeAt(x, `${path}/${i}`))
}

function portOrRangeAt(v: Json, path: string): [number, number] {
  if (typeof v === 'number') {
    const p = portAt(v, path)
    return [p, p]
  }
  if (Array.isArray(v)) fail(path, `[low, high] is not a range here: write a range as "low-high", like "${v.join('-')}"`)
  const m = typeof v === 'string' ? /^(\d{1,5})-(\d{1,5})$/.exec(v) : null
  if (!m) return fail(path, `expected a port or a range "low-high" like "8000-8499", got ${show(v)}`)
  const low = Number(m[1]), high = Number(m[2])
  if (low > 65535 || high > 65535) fail(path, `ports go up to 65535, got ${show(v)}`)
  if (low > high) fail(path, `the range "${v}" runs backwards: write "${high}-${low}"`)
  return [low, high]
}

const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 }

/** "tcp", "udp", "icmp", "icmpv6" or an IP protocol number. */
export function protoAt(v: Json, path: string): number {
  if (typeof v === 'string' && Object.hasOwn(PROTO_NUMBERS, v)) return PROTO_NUMBERS[v]
  if (typeof v === 'number') return integerAt(v, path, 0, 255)
  return fail(path, `expected "tcp", "udp", "icmp", "icmpv6" or a protocol number 0-255, got ${show(v)}`)
}
