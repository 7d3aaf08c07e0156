// IPv6 header recognition (RFC 8200): enough to tell an IPv6 packet from garbage and to say
// what it carries. The NFs here are IPv4 NFs; IPv6 follows their non-IP policy.

import { get16 } from './bytes.ts'

export const IPV6_HLEN = 40
export const IPV6_PAYLOAD_LENGTH = 4
export const IPV6_NEXT_HEADER = 6
export const IPV6_HOP_LIMIT = 7
export const IPV6_SRC = 8
export const IPV6_DST = 24

/** True if a version-6 fixed header fits before end and its payload length fits too. */
export function isIpv6(b: Uint8Array, o: number, end: number): boolean {
  return o + IPV6_HLEN <= end && b[o] >>> 4 === 6 && o + IPV6_HLEN + get16(b, o + IPV6_PAYLOAD_LENGTH) <= end
}

export function ipv6NextHeader(b: Uint8Array, o: number): number {
  return b[o + IPV6_NEXT_HEADER]
}

export function ipv6PayloadLength(b: Uint8Array, o: number): number {
  return get16(b, o + IPV6_PAYLOAD_LENGTH)
}
