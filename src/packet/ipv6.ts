// IPv6 headers (RFC 8200): the 40-byte fixed header, then a chain of extension headers, each
// naming the next, up to the upper-layer header. Offsets are from the start of the header
// they belong to. headers.ts walks the chain; these are its numbers and a few readers.

import { get16 } from './bytes.ts'

export const IPV6_HLEN = 40
export const IPV6_PAYLOAD_LENGTH = 4
export const IPV6_NEXT_HEADER = 6
export const IPV6_HOP_LIMIT = 7
export const IPV6_SRC = 8
export const IPV6_DST = 24

// Next-header values (IANA "Assigned Internet Protocol Numbers") that are extension headers,
// or that end the chain without an upper-layer header the NFs read.
export const IPPROTO_HOPOPTS = 0
export const IPPROTO_ROUTING = 43
export const IPPROTO_FRAGMENT = 44
/** Encapsulating Security Payload (RFC 4303): what follows is encrypted, so the walk stops. */
export const IPPROTO_ESP = 50
/** Authentication Header (RFC 4302): its length counts 4-byte words, less 2. */
export const IPPROTO_AH = 51
export const IPPROTO_ICMPV6 = 58
/** No Next Header: nothing follows. */
export const IPPROTO_NONE = 59
export const IPPROTO_DSTOPTS = 60
/** Mobility header (RFC 6275). */
export const IPPROTO_MH = 135

/** The Fragment header: next header, reserved, offset (13 bits) and M flag, 32-bit identification. */
export const IPV6_FRAG_HLEN = 8
export const IPV6_FRAG_ID = 4
/**
 * Extension headers the parser follows before it calls the packet malformed: RFC 8200 4.1 has
 * each occur at most once (Destination Options twice), so a longer chain is an attack on parsers.
 */
export const IPV6_MAX_EXT_HEADERS = 16

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

/** True for the extension headers of the common format: next header, then length in 8-byte units less one. */
export function ipv6IsOptionsHeader(next: number): boolean {
  return next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_DSTOPTS || next === IPPROTO_MH
}
