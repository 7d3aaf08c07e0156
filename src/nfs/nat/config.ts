// Reads and checks the NAT's config (its schema and documentation: config.schema.json) into the settings the NAT runs with.

import type { Cidr } from '../../packet/address.ts'
import { parseIpv4, prefixMask } from '../../packet/address.ts'
import { IPPROTO_TCP, IPPROTO_UDP } from '../../packet/ipv4.ts'
import {
  arrayAt, cidrListAt, fail, integerAt, ipv4At, objectAt, oneOf, portAt, portRangeAt, show, type Json,
} from '../lib/config.ts'
import { timeoutsAt, type Timeouts } from '../lib/flow-state.ts'

export interface Forward {
  proto: number
  port: number
  toIp: number
  toPort: number
}

export interface NatSettings {
  external: number
  /** Masqueraded sources as (network, mask) pairs; empty = every source from the inside. */
  insideNet: Int32Array
  insideMask: Int32Array
  ports: [number, number]
  timeouts: Timeouts
  forwards: Forward[]
  maxMappings: number
}

const FIELDS = ['external', 'inside', 'ports', 'timeouts', 'forwards', 'maxMappings'] as const

/** The defaults config.schema.json states (a test checks they agree). */
export const NAT_DEFAULTS = {
  ports: [20000, 59999] as [number, number],
  maxMappings: 65536,
  /** RFC 5382 (TCP) and RFC 4787 (UDP) minimums where they exist, Linux conntrack's elsewhere. */
  timeouts: { tcpEstablished: 7440, tcpTransitory: 240, udp: 120, udpUnreplied: 30, icmp: 30, other: 600 } as Timeouts,
} as const

const TIMEOUT_FIELDS = ['tcpEstablished', 'tcpTransitory', 'udp', 'udpUnreplied', 'icmp']

function forwardAt(v: Json, path: string): Forward {
  const o = objectAt(v, path, ['proto', 'port', 'to'])
  if (o.proto === undefined) fail(`${path}/proto`, 'missing; expected "tcp" or "udp"')
  const proto = oneOf(o.proto, `${path}/proto`, ['tcp', 'udp']) === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP
  if (o.port === undefined) fail(`${path}/port`, 'missing; expected the external port')
  const port = portAt(o.port, `${path}/port`)
  const m = typeof o.to === 'string' ? /^([^:]+)(?::(\d{1,5}))?$/.exec(o.to) : null
  const toIp = m ? parseIpv4(m[1]) : null
  const toPort = m && m[2] !== undefined ? Number(m[2]) : port
  if (!m || toIp === null || toPort > 65535) fail(`${path}/to`, `expected "address:port" of an inside host like "10.0.0.5:80", got ${show(o.to)}`)
  return { proto, port, toIp, toPort }
}

export function readNatConfig(config: Json): NatSettings {
  const c = objectAt(config, '', FIELDS)
  if (c.external === undefined) fail('/external', 'missing; expected the external IPv4 address, e.g. "203.0.113.1"')
  const external = ipv4At(c.external, '/external')
  const inside: Cidr[] = c.inside === undefined ? [] : cidrListAt(c.inside, '/inside')
  const ports = c.ports === undefined ? NAT_DEFAULTS.ports : portRangeAt(c.ports, '/ports')
  if (ports[0] === 0) fail('/ports/0', 'port 0 cannot be an external port')
  const forwards = c.forwards === undefined ? [] : arrayAt(c.forwards, '/forwards').map((f, i) => forwardAt(f, `/forwards/${i}`))
  const seen = new Map<string, number>()
  forwards.forEach((f, i) => {
    const k = `${f.proto}/${f.port}`
    if (seen.has(k)) fail(`/forwards/${i}/port`, `${f.proto === IPPROTO_TCP ? 'tcp' : 'udp'} port ${f.port} is already forwarded by /forwards/${seen.get(k)}`)
    seen.set(k, i)
  })
  return {
    external,
    insideNet: Int32Array.from(inside, x => x.addr),
    insideMask: Int32Array.from(inside, x => prefixMask(x.prefix)),
    ports,
    timeouts: timeoutsAt(c.timeouts, '/timeouts', NAT_DEFAULTS.timeouts, TIMEOUT_FIELDS),
    forwards,
    maxMappings: c.maxMappings === undefined ? NAT_DEFAULTS.maxMappings : integerAt(c.maxMappings, '/maxMappings', 1, 1 << 22),
  }
}
