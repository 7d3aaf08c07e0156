// ICMP for IPv4 (RFC 792). Every message starts with an 8-byte header; echo and timestamp
// carry an identifier there (the "port" a NAT translates, RFC 5508), errors carry the
// offending datagram's IP header and at least 8 bytes of what followed it.

import { get16, set16, set32 } from './bytes.ts'
import { checksumOf } from './checksum.ts'
import type { Headers } from './headers.ts'
import { IPPROTO_ICMP, IPV4_MIN_HLEN, ipv4SetChecksum } from './ipv4.ts'

export const ICMP_HLEN = 8
export const ICMP_TYPE = 0
export const ICMP_CODE = 1
export const ICMP_CHECKSUM = 2
export const ICMP_ID = 4
export const ICMP_SEQ = 6

export const ICMP_ECHO_REPLY = 0
export const ICMP_DEST_UNREACH = 3
export const ICMP_SOURCE_QUENCH = 4
export const ICMP_REDIRECT = 5
export const ICMP_ECHO_REQUEST = 8
export const ICMP_TIME_EXCEEDED = 11
export const ICMP_PARAMETER_PROBLEM = 12
export const ICMP_TIMESTAMP = 13
export const ICMP_TIMESTAMP_REPLY = 14

export function icmpType(b: Uint8Array, o: number): number {
  return b[o + ICMP_TYPE]
}

export function icmpCode(b: Uint8Array, o: number): number {
  return b[o + ICMP_CODE]
}

export function icmpId(b: Uint8Array, o: number): number {
  return get16(b, o + ICMP_ID)
}

export function icmpSeq(b: Uint8Array, o: number): number {
  return get16(b, o + ICMP_SEQ)
}

/** Query messages whose identifier names a flow: echo and timestamp, request and reply. */
export function icmpIsQuery(type: number): boolean {
  return type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY || type === ICMP_TIMESTAMP || type === ICMP_TIMESTAMP_REPLY
}

export function icmpIsRequest(type: number): boolean {
  return type === ICMP_ECHO_REQUEST || type === ICMP_TIMESTAMP
}

/** Error messages that quote a datagram (the "related" traffic of connection tracking). */
export function icmpIsError(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETER_PROBLEM ||
    type === ICMP_SOURCE_QUENCH || type === ICMP_REDIRECT
}

/** What an error quotes after the offending IP header (RFC 792: "the first 64 bits"). */
export const ICMP_QUOTED_DATA = 8
/** The longest error icmpErrorInPlace makes: IP and ICMP headers, a 60-byte IP header and 8 bytes quoted. */
export const ICMP_ERROR_MAX_LEN = IPV4_MIN_HLEN + ICMP_HLEN + 60 + ICMP_QUOTED_DATA

/**
 * Turns the IPv4 datagram at h.l3 (parse() read it into h) into an ICMP error about it, in
 * place: a new 20-byte IP header from `src` to the datagram's source, the ICMP header
 * (type, code, four zero bytes), then the quote: the datagram's IP header as received,
 * options included, and the first 8 bytes after it (RFC 792; RFC 1812 4.3.2.3 allows more,
 * up to 576 bytes, Linux sends that much; 8 is what every receiver needs to find its flow).
 * Type of service 0xc0, precedence "internetwork control", as RFC 1812 4.3.2.5 asks and
 * Linux sends; DF clear, as Linux's ICMP socket sends errors. Both checksums are computed
 * in full: the message is short and all of it is new.
 *
 * Returns the end offset of the new datagram. It can reach past the old one (a 28-byte
 * datagram becomes 56): the buffer must have room for ICMP_ERROR_MAX_LEN bytes from h.l3. Whether an
 * error may be sent at all (not about an ICMP error, a non-first fragment or a broadcast)
 * is the caller's decision (RFC 1812 4.3.2.7).
 */
export function icmpErrorInPlace(b: Uint8Array, h: Headers, type: number, code: number, src: number, ttl: number, ipId: number): number {
  const l3 = h.l3
  const hl = h.ipHeaderLength
  const data = h.totalLength - hl
  const quote = hl + (data < ICMP_QUOTED_DATA ? data : ICMP_QUOTED_DATA)
  const to = h.src
  const icmp = l3 + IPV4_MIN_HLEN
  // The quote moves up past the two new headers (copyWithin copies as if through a buffer).
  b.copyWithin(icmp + ICMP_HLEN, l3, l3 + quote)
  const total = IPV4_MIN_HLEN + ICMP_HLEN + quote
  b[l3] = 0x45
  b[l3 + 1] = 0xc0
  set16(b, l3 + 2, total)
  set16(b, l3 + 4, ipId)
  set16(b, l3 + 6, 0)
  b[l3 + 8] = ttl
  b[l3 + 9] = IPPROTO_ICMP
  set32(b, l3 + 12, src)
  set32(b, l3 + 16, to)
  ipv4SetChecksum(b, l3)
  b[icmp + ICMP_TYPE] = type
  b[icmp + ICMP_CODE] = code
  set16(b, icmp + ICMP_CHECKSUM, 0)
  set32(b, icmp + ICMP_ID, 0)
  set16(b, icmp + ICMP_CHECKSUM, checksumOf(b, icmp, ICMP_HLEN + quote, 0))
  return l3 + total
}
