// IPv4 headers (RFC 791), options included: the header is IHL 32-bit words, 20 to 60 bytes.
// Offsets are from the start of the IP header. A datagram may be shorter than the frame
// (Ethernet pads to 60 bytes), never longer: the total length bounds everything above it.

import { get16, get32, set16, set32 } from './bytes.ts'
import { checksumOf } from './checksum.ts'

export const IPV4_MIN_HLEN = 20
export const IPV4_VER_IHL = 0
export const IPV4_TOS = 1
export const IPV4_TOTAL_LENGTH = 2
export const IPV4_ID = 4
export const IPV4_FRAG = 6
export const IPV4_TTL = 8
export const IPV4_PROTO = 9
export const IPV4_CHECKSUM = 10
export const IPV4_SRC = 12
export const IPV4_DST = 16

export const IPPROTO_ICMP = 1
export const IPPROTO_TCP = 6
export const IPPROTO_UDP = 17

export const IPV4_FLAG_DF = 0x4000
export const IPV4_FLAG_MF = 0x2000
export const IPV4_FRAG_OFFSET_MASK = 0x1fff

export function ipv4Version(b: Uint8Array, o: number): number {
  return b[o] >>> 4
}

/** Header length in bytes (IHL × 4). */
export function ipv4HeaderLength(b: Uint8Array, o: number): number {
  return (b[o] & 0x0f) << 2
}

export function ipv4TotalLength(b: Uint8Array, o: number): number {
  return get16(b, o + IPV4_TOTAL_LENGTH)
}

export function ipv4Id(b: Uint8Array, o: number): number {
  return get16(b, o + IPV4_ID)
}

/** Fragment offset in 8-byte units; 0 for the first fragment and unfragmented datagrams. */
export function ipv4FragmentOffset(b: Uint8Array, o: number): number {
  return get16(b, o + IPV4_FRAG) & IPV4_FRAG_OFFSET_MASK
}

export function ipv4MoreFragments(b: Uint8Array, o: number): boolean {
  return (b[o + IPV4_FRAG] & 0x20) !== 0
}

export function ipv4DontFragment(b: Uint8Array, o: number): boolean {
  return (b[o + IPV4_FRAG] & 0x40) !== 0
}

/** A fragment of a larger datagram (first or not): MF set or a non-zero offset. */
export function ipv4IsFragment(b: Uint8Array, o: number): boolean {
  return (get16(b, o + IPV4_FRAG) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0
}

export function ipv4Ttl(b: Uint8Array, o: number): number {
  return b[o + IPV4_TTL]
}

export function ipv4Protocol(b: Uint8Array, o: number): number {
  return b[o + IPV4_PROTO]
}

export function ipv4Src(b: Uint8Array, o: number): number {
  return get32(b, o + IPV4_SRC)
}

export function ipv4Dst(b: Uint8Array, o: number): number {
  return get32(b, o + IPV4_DST)
}

export function setIpv4Src(b: Uint8Array, o: number, addr: number): void {
  set32(b, o + IPV4_SRC, addr)
}

export function setIpv4Dst(b: Uint8Array, o: number, addr: number): void {
  set32(b, o + IPV4_DST, addr)
}

export function setIpv4Ttl(b: Uint8Array, o: number, ttl: number): void {
  b[o + IPV4_TTL] = ttl
}

/** Header checksum as it should be (the stored one is left out of the sum). */
export function ipv4ComputeChecksum(b: Uint8Array, o: number): number {
  const hl = ipv4HeaderLength(b, o)
  const stored = get16(b, o + IPV4_CHECKSUM)
  set16(b, o + IPV4_CHECKSUM, 0)
  const c = checksumOf(b, o, hl, 0)
  set16(b, o + IPV4_CHECKSUM, stored)
  return c
}

export function ipv4SetChecksum(b: Uint8Array, o: number): void {
  set16(b, o + IPV4_CHECKSUM, 0)
  set16(b, o + IPV4_CHECKSUM, checksumOf(b, o, ipv4HeaderLength(b, o), 0))
}

/** True if the header (with its options) sums to zero, as a receiver checks it. */
export function ipv4ChecksumOk(b: Uint8Array, o: number): boolean {
  return checksumOf(b, o, ipv4HeaderLength(b, o), 0) === 0
}

/** ipv4Check results: fixed header cut short, bad version, IHL under 5, or a total length
 * under the header length (options included) or past `end`. */
export const IPV4_OK = 0
export const IPV4_TRUNCATED = 1
export const IPV4_BAD_VERSION = 2
export const IPV4_BAD_IHL = 3
export const IPV4_BAD_TOTAL_LENGTH = 4

/**
 * Checks that a well-formed IPv4 header at o fits before end and that its total length is at
 * least the header and at most the bytes there. Reads nothing at or past end.
 */
export function ipv4Check(b: Uint8Array, o: number, end: number): number {
  if (o + IPV4_MIN_HLEN > end) return IPV4_TRUNCATED
  if (b[o] >>> 4 !== 4) return IPV4_BAD_VERSION
  const hl = (b[o] & 0x0f) << 2
  if (hl < IPV4_MIN_HLEN) return IPV4_BAD_IHL
  // Total length at least the header and within the frame also puts the options in the frame.
  const tl = get16(b, o + IPV4_TOTAL_LENGTH)
  if (tl < hl || o + tl > end) return IPV4_BAD_TOTAL_LENGTH
  return IPV4_OK
}
