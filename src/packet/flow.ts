// The 5-tuple (source and destination address, protocol, source and destination port) and
// hashes of it. flowHash is directional, for tables keyed by one direction; symmetricFlowHash
// gives both directions of a flow one value, so a stateful NF's instances each see whole
// flows (as symmetric RSS does).

import type { Headers } from './headers.ts'

/**
 * A hash of four 32-bit words, as an int32: each word times its own odd constant, then one
 * multiply-xorshift round (as in MurmurHash3's finaliser) so every input bit reaches the low
 * bits a table indexes with. About 10 integer operations: cheaper than full MurmurHash3,
 * enough for open-addressing tables and for picking an NF instance.
 */
export function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ (b >>> 15), 0x85ebca77) ^ Math.imul(c, 0xc2b2ae3d) ^ Math.imul(d, 0x27d4eb2f)
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d)
  return h ^ (h >>> 15)
}

/** Directional flow hash, a uint32. */
export function flowHash(src: number, dst: number, proto: number, srcPort: number, dstPort: number): number {
  return hash4(src, dst, (srcPort << 16) | dstPort, proto) >>> 0
}

/** The same uint32 for a flow and its reply. */
export function symmetricFlowHash(src: number, dst: number, proto: number, srcPort: number, dstPort: number): number {
  const srcFirst = (src ^ 0x80000000) < (dst ^ 0x80000000) || (src === dst && srcPort <= dstPort)
  return srcFirst ? flowHash(src, dst, proto, srcPort, dstPort) : flowHash(dst, src, proto, dstPort, srcPort)
}

/** Flow hash of a parsed IPv4 packet (ports are 0 when it has none; ICMP uses its identifier). */
export function flowHashOf(h: Headers): number {
  return h.hasPorts ? flowHash(h.src, h.dst, h.proto, h.srcPort, h.dstPort) : flowHash(h.src, h.dst, h.proto, h.icmpId, 0)
}

/**
 * symmetricFlowHash of a parsed IPv4 packet: TCP and UDP by their ports; ICMP queries by
 * their identifier, as both ports, since a request and its reply carry the same one; other
 * protocols and non-first fragments by addresses and protocol alone.
 */
export function symmetricFlowHashOf(h: Headers): number {
  if (h.hasPorts) return symmetricFlowHash(h.src, h.dst, h.proto, h.srcPort, h.dstPort)
  return symmetricFlowHash(h.src, h.dst, h.proto, h.icmpId, h.icmpId)
}
