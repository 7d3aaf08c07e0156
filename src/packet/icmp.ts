// ICMP for IPv4 (RFC 792). Every message starts with an 8-byte header; echo and timestamp
// carry an identifier there (the "port" a NAT translates, RFC 5508), errors carry the
// offending datagram's IP header and at least 8 bytes of what followed it.

import { get16 } from './bytes.ts'

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
