// Reads and checks the router's config (its schema and documentation:
// config.schema.json) into the settings it runs with, adding what a schema cannot
// say: the address is a host on its prefix (not the network or broadcast address), the
// gateway and the static neighbours are on the link, the router's own MAC is unicast.

import { formatIpv4, parseIpv4, prefixMask } from '../../packet/address.ts'
import { fail, ipv4At, macAt, objectAt, show, type Json } from '../lib/config.ts'

export interface RouterSettings {
  /** The router's address on the link, as int32. */
  address: number
  prefix: number
  /** prefixMask(prefix), and the link's network address (address & mask). */
  mask: number
  network: number
  /** The link's directed broadcast address, or null on a /31 (RFC 3021: no broadcast). */
  broadcast: number | null
  mac: Uint8Array
  /** Next hop for off-link destinations, or null: those are dropped as no route. */
  gateway: number | null
  neighbours: Array<{ ip: number; mac: Uint8Array }>
}

const FIELDS = ['address', 'mac', 'gateway', 'neighbours'] as const

/** The default MAC's first three bytes: locally administered, then "xi". */
export const ROUTER_MAC_PREFIX = [0x02, 0x78, 0x69] as const

/**
 * "a.b.c.d/n" with the host bits set: the interface address and the link's prefix, as
 * `ip addr add` takes them (so not parseCidr, which refuses host bits).
 */
function interfaceAddressAt(v: Json, path: string): { address: number; prefix: number } {
  const m = typeof v === 'string' ? /^([^/]+)(?:\/(\d{1,2}))?$/.exec(v) : null
  const address = m ? parseIpv4(m[1]) : null
  if (!m || address === null || (m[2] !== undefined && Number(m[2]) > 32)) {
    fail(path, `expected the router's address with the link's prefix, like "10.0.0.1/24", got ${show(v)}`)
  }
  if (m[2] === undefined || m[2] === '32') {
    fail(path, `${show(v)} needs the link's prefix, like "${m[1]}/24": the router learns from it which destinations are on the link`)
  }
  const prefix = Number(m[2])
  if (!isUnicast(address)) fail(path, `${m[1]} is not a unicast host address`)
  if (prefix <= 30) {
    const mask = prefixMask(prefix)
    const link = `${formatIpv4(address & mask)}/${prefix}`
    if ((address & ~mask) === 0) fail(path, `${m[1]} is the network address of ${link}; give the router's own address, like "${formatIpv4((address & mask) + 1)}/${prefix}"`)
    if ((address & ~mask) === ~mask) fail(path, `${m[1]} is the broadcast address of ${link}; give the router's own address`)
  }
  return { address, prefix }
}

/** Not 0/8 ("this network"), 127/8 (loopback), 224/4 (multicast) nor 240/4 and broadcast. */
function isUnicast(a: number): boolean {
  const top = a >>> 24
  return top !== 0 && top !== 127 && top < 224
}

/** The default MAC, from the address: 02:78:69 then its last three bytes. */
export function defaultMac(address: number): Uint8Array {
  return Uint8Array.of(...ROUTER_MAC_PREFIX, (address >>> 16) & 255, (address >>> 8) & 255, address & 255)
}

export function readRouterConfig(config: Json): RouterSettings {
  const c = objectAt(config, '', FIELDS)
  if (c.address === undefined) fail('/address', 'missing; expected the router\'s address with the link\'s prefix, e.g. "10.0.0.1/24"')
  const { address, prefix } = interfaceAddressAt(c.address, '/address')
  const mask = prefixMask(prefix)
  const network = address & mask
  const broadcast = prefix <= 30 ? network | ~mask : null
  const link = `${formatIpv4(network)}/${prefix}`

  /** A neighbour's address: on the link, and another host than the router. */
  const neighbourAt = (v: Json, path: string, what: string): number => {
    const a = ipv4At(v, path)
    if ((a & mask) !== network) fail(path, `${formatIpv4(a)} is not on the link ${link} (the address's prefix): ${what} must be reachable without a router`)
    if (a === address) fail(path, `${formatIpv4(a)} is the router's own address`)
    if (a === network || a === broadcast) fail(path, `${formatIpv4(a)} is the ${a === network ? 'network' : 'broadcast'} address of ${link}, not a host`)
    return a
  }

  let mac = defaultMac(address)
  if (c.mac !== undefined) {
    mac = macAt(c.mac, '/mac')
    if ((mac[0] & 1) !== 0) fail('/mac', `${show(c.mac)} is a multicast (group) address; a router's MAC must be unicast, like "02:00:00:00:00:01"`)
  }
  const gateway = c.gateway === undefined ? null : neighbourAt(c.gateway, '/gateway', 'a gateway')
  const neighbours: RouterSettings['neighbours'] = []
  if (c.neighbours !== undefined) {
    const n = c.neighbours
    if (typeof n !== 'object' || n === null || Array.isArray(n)) fail('/neighbours', `expected an object of address: MAC, like { "10.0.0.2": "02:00:00:00:00:02" }, got ${show(n)}`)
    for (const [k, v] of Object.entries(n)) {
      const path = `/neighbours/${k}`
      neighbours.push({ ip: neighbourAt(k, path, 'a neighbour'), mac: macAt(v, path) })
    }
  }
  return { address, prefix, mask, network, broadcast, mac, gateway, neighbours }
}
