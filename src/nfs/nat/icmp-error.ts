// ICMP errors through the NAT (RFC 5508 §4.2): a "fragmentation needed" or "port
// unreachable" about a translated flow quotes the packet as the far side saw it, so the quote
// is translated the way the outer header is, or path MTU discovery and traceroute break.
// Every quoted byte is under the ICMP checksum, so each rewrite there also adjusts it; the
// quoted IP and L4 checksums are kept consistent with the rewritten quote.

import { get16, get32, set16 } from '../../packet/bytes.ts'
import { checksumUpdate16, checksumUpdate32 } from '../../packet/checksum.ts'
import type { Headers } from '../../packet/headers.ts'
import { ICMP_CHECKSUM, ICMP_ID } from '../../packet/icmp.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_CHECKSUM } from '../../packet/ipv4.ts'
import { rewriteIpv4Dst, rewriteIpv4Src } from '../../packet/rewrite.ts'

/** Writes a 16-bit word in the ICMP body, keeping the ICMP checksum at c right. */
function put16(b: Uint8Array, c: number, at: number, v: number): void {
  const old = get16(b, at)
  set16(b, at, v)
  set16(b, c, checksumUpdate16(get16(b, c), old, v))
}

/** Adjusts a checksum inside the ICMP body for a 32- or 16-bit change, via put16. */
function fix32(b: Uint8Array, c: number, at: number, from: number, to: number, udp: boolean): void {
  const old = get16(b, at)
  if (udp && old === 0) return
  put16(b, c, at, checksumUpdate32(old, from, to) || (udp ? 0xffff : 0))
}

function fix16(b: Uint8Array, c: number, at: number, from: number, to: number, udp: boolean): void {
  const old = get16(b, at)
  if (udp && old === 0) return
  put16(b, c, at, checksumUpdate16(old, from, to) || (udp ? 0xffff : 0))
}

/**
 * Translates an ICMP error: the outer source (fromInside) or destination becomes `addr`, and
 * the quoted packet's opposite address becomes `addr` with its port (TCP/UDP) or identifier
 * (ICMP query) `port`. h is the outer packet, q its quote (parseQuoted).
 */
export function translateIcmpError(b: Uint8Array, h: Headers, q: Headers, fromInside: boolean, addr: number, port: number): void {
  const c = h.l4 + ICMP_CHECKSUM
  const end = q.l3End
  // An error from the inside quotes a packet sent to it (its destination is ours to rewrite);
  // an error from the outside quotes one we sent (its source).
  const qa = q.l3 + (fromInside ? 16 : 12)
  const oldAddr = get32(b, qa)
  put16(b, c, qa, addr >>> 16)
  put16(b, c, qa + 2, addr & 0xffff)
  fix32(b, c, q.l3 + IPV4_CHECKSUM, oldAddr, addr, false)
  if (q.l4 >= 0) {
    if (q.proto === IPPROTO_TCP || q.proto === IPPROTO_UDP) {
      const udp = q.proto === IPPROTO_UDP
      const pa = q.l4 + (fromInside ? 2 : 0)
      const oldPort = get16(b, pa)
      const ck = q.l4 + (udp ? 6 : 16)
      const ckFits = ck + 2 <= end
      if (ckFits) fix32(b, c, ck, oldAddr, addr, udp)
      put16(b, c, pa, port)
      if (ckFits) fix16(b, c, ck, oldPort, port, udp)
    } else if (q.proto === IPPROTO_ICMP) {
      const ia = q.l4 + ICMP_ID
      const oldId = get16(b, ia)
      put16(b, c, ia, port)
      fix16(b, c, q.l4 + ICMP_CHECKSUM, oldId, port, false)
    }
  }
  if (fromInside) rewriteIpv4Src(b, h, addr)
  else rewriteIpv4Dst(b, h, addr)
}
