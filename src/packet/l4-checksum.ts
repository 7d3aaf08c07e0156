// Full TCP, UDP and ICMP checksums of an unfragmented IPv4 datagram, for crafting packets
// and checking rewrites. The data path never calls these: it updates checksums
// incrementally (rewrite.ts).

import { get16, get32, set16 } from './bytes.ts'
import { checksumOf, pseudoHeaderSum } from './checksum.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './ipv4.ts'

/** Offset of the L4 checksum field from the L4 header, or -1 for protocols without one here. */
export function l4ChecksumField(proto: number): number {
  return proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : proto === IPPROTO_ICMP ? 2 : -1
}

/**
 * The checksum the datagram at l3 should carry in its TCP, UDP or ICMP header (the stored
 * one left out), or -1 for other protocols. Sums the whole datagram: l3 + total length must
 * lie inside b.
 */
export function l4ComputeChecksum(b: Uint8Array, l3: number): number {
  const proto = b[l3 + 9]
  const f = l4ChecksumField(proto)
  if (f < 0) return -1
  const hl = (b[l3] & 0x0f) << 2
  const l4 = l3 + hl
  const len = get16(b, l3 + 2) - hl
  const stored = get16(b, l4 + f)
  set16(b, l4 + f, 0)
  const init = proto === IPPROTO_ICMP ? 0 : pseudoHeaderSum(get32(b, l3 + 12), get32(b, l3 + 16), proto, len)
  let c = checksumOf(b, l4, len, init)
  set16(b, l4 + f, stored)
  if (proto === IPPROTO_UDP && c === 0) c = 0xffff
  return c
}

/** Stores the computed L4 checksum (see l4ComputeChecksum). */
export function l4SetChecksum(b: Uint8Array, l3: number): void {
  const c = l4ComputeChecksum(b, l3)
  if (c >= 0) set16(b, l3 + ((b[l3] & 0x0f) << 2) + l4ChecksumField(b[l3 + 9]), c)
}
