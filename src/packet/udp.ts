// UDP headers (RFC 768). A zero checksum means "none" over IPv4 and must stay zero; a
// computed zero is sent as 0xffff.

import { get16 } from './bytes.ts'

export const UDP_HLEN = 8
export const UDP_SRC_PORT = 0
export const UDP_DST_PORT = 2
export const UDP_LENGTH = 4
export const UDP_CHECKSUM = 6

export function udpSrcPort(b: Uint8Array, o: number): number {
  return get16(b, o + UDP_SRC_PORT)
}

export function udpDstPort(b: Uint8Array, o: number): number {
  return get16(b, o + UDP_DST_PORT)
}

export function udpLength(b: Uint8Array, o: number): number {
  return get16(b, o + UDP_LENGTH)
}

/** True if the header fits in [o, end) and its length field is 8..(end - o). */
export function udpHeaderFits(b: Uint8Array, o: number, end: number): boolean {
  if (o + UDP_HLEN > end) return false
  const l = get16(b, o + UDP_LENGTH)
  return l >= UDP_HLEN && o + l <= end
}
