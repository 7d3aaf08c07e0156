// The 5-tuple (source and destination address, protocol, source and destination port) and
// hashes of it. flowHash is directional, for tables keyed by one direction; symmetricFlowHash
// gives both directions of a flow one value, so a stateful NF's instances each see whole
// flows (as symmetric RSS does).

import type { Headers } from './headers.ts'

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, 0x1b873593)
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

/** MurmurHash3's finaliser: every input bit reaches every output bit. */
function avalanche(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/** MurmurHash3 (x86, 32-bit) of four 32-bit words, as an int32. */
export function hash4(a: number, b: number, c: number, d: number): number {
  return avalanche(mix(mix(mix(mix(0x5bd1e995, a), b), c), d) ^ 16)
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
