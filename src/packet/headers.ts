// One pass over a frame's headers into a reused Headers object: Ethernet and VLAN tags, then
// ARP, IPv6 (recognised) or IPv4 and its TCP, UDP or ICMP header. The NFs' per-packet
// decisions read integers from it; nothing is allocated and nothing at or past at + length is
// read. A frame that claims more than it holds (bad IHL, total length past the frame, short
// TCP header) is reported as malformed, never guessed at.

import { get16, get32 } from './bytes.ts'
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, etherTypeOffset, outerVlanId } from './ethernet.ts'
import { isArpIpv4 } from './arp.ts'
import { isIpv6 } from './ipv6.ts'
import {
  IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_BAD_IHL, IPV4_BAD_VERSION, IPV4_OK, IPV4_TRUNCATED, ipv4Check,
} from './ipv4.ts'
import { TCP_MIN_HLEN } from './tcp.ts'
import { UDP_HLEN } from './udp.ts'
import { ICMP_HLEN } from './icmp.ts'

/** parse() results: >= 0 a well-formed frame of that kind, < 0 malformed. */
export const PARSE_IPV4 = 0
export const PARSE_ARP = 1
export const PARSE_IPV6 = 2
/** Any other EtherType; only Ethernet and VLAN fields are set. */
export const PARSE_OTHER = 3
/** The frame ends inside the Ethernet header, a VLAN tag, ARP, or the fixed IP header. */
export const PARSE_TRUNCATED = -1
/** IPv4 version field not 4, or IHL under 5. */
export const PARSE_BAD_IPV4 = -2
/** IPv4 total length under the header length or past the end of the frame. */
export const PARSE_BAD_LENGTH = -3
/** TCP, UDP or ICMP header short or inconsistent, or a fragment that hides or overlaps it (RFC 1858). */
export const PARSE_BAD_L4 = -4

export class Headers {
  /** The last parse() result. */
  status = PARSE_TRUNCATED
  /** EtherType of the payload, after VLAN tags. */
  etherType = 0
  /** Outermost VLAN id, or -1 if untagged. */
  vlanId = -1
  /** Offset of the network header in the byte view. */
  l3 = 0
  /** IPv4: header length in bytes (options included). */
  ipHeaderLength = 0
  totalLength = 0
  /** End of the IPv4 datagram in the byte view: at most the end of the frame (which may be padded). */
  l3End = 0
  proto = 0
  /** Addresses as int32 (a.b.c.d = a << 24 | ...). */
  src = 0
  dst = 0
  ipId = 0
  ttl = 0
  /** Fragment offset in 8-byte units; non-zero means no L4 header in this packet. */
  fragOffset = 0
  moreFragments = false
  /** Offset of the L4 header, or -1 for a non-first fragment. */
  l4 = -1
  /** 1 if srcPort/dstPort were read (TCP or UDP, not a non-first fragment). */
  hasPorts = false
  srcPort = 0
  dstPort = 0
  tcpFlags = 0
  /** ICMP fields, or -1 when not ICMP. */
  icmpType = -1
  icmpCode = -1
  icmpId = 0
}

export function parse(b: Uint8Array, at: number, length: number, h: Headers): number {
  return (h.status = parseFrame(b, at, length, h))
}

function parseFrame(b: Uint8Array, at: number, length: number, h: Headers): number {
  const end = at + length
  h.l4 = -1
  h.hasPorts = false
  h.srcPort = 0
  h.dstPort = 0
  h.tcpFlags = 0
  h.icmpType = -1
  h.icmpCode = -1
  h.icmpId = 0
  h.proto = 0
  const et = etherTypeOffset(b, at, length)
  if (et < 0) return PARSE_TRUNCATED
  h.vlanId = outerVlanId(b, at, length)
  const type = get16(b, et)
  const o = et + 2
  h.etherType = type
  h.l3 = o
  if (type === ETHERTYPE_IPV4) return parseIpv4(b, o, end, h)
  if (type === ETHERTYPE_ARP) return isArpIpv4(b, o, end) ? PARSE_ARP : PARSE_TRUNCATED
  if (type === ETHERTYPE_IPV6) return isIpv6(b, o, end) ? PARSE_IPV6 : PARSE_TRUNCATED
  return PARSE_OTHER
}

function parseIpv4(b: Uint8Array, o: number, end: number, h: Headers): number {
  const c = ipv4Check(b, o, end)
  if (c !== IPV4_OK) {
    if (c === IPV4_TRUNCATED) return PARSE_TRUNCATED
    if (c === IPV4_BAD_VERSION || c === IPV4_BAD_IHL) return PARSE_BAD_IPV4
    return PARSE_BAD_LENGTH
  }
  const hl = (b[o] & 0x0f) << 2
  const tl = get16(b, o + 2)
  const frag = get16(b, o + 6)
  const proto = b[o + 9]
  h.ipHeaderLength = hl
  h.totalLength = tl
  h.l3End = o + tl
  h.ipId = get16(b, o + 4)
  h.ttl = b[o + 8]
  h.proto = proto
  h.src = get32(b, o + 12)
  h.dst = get32(b, o + 16)
  h.fragOffset = frag & 0x1fff
  h.moreFragments = (frag & 0x2000) !== 0
  if (h.fragOffset !== 0) {
    // RFC 1858: a TCP fragment at offset 8 bytes can only be rewriting the flags of the first.
    return proto === IPPROTO_TCP && h.fragOffset === 1 ? PARSE_BAD_L4 : PARSE_IPV4
  }
  const l4 = o + hl
  const l4End = o + tl
  h.l4 = l4
  if (proto === IPPROTO_TCP) {
    // A first fragment must hold the whole TCP header too (RFC 1858 tiny fragments).
    if (l4 + TCP_MIN_HLEN > l4End) return PARSE_BAD_L4
    const thl = (b[l4 + 12] >>> 4) << 2
    if (thl < TCP_MIN_HLEN || l4 + thl > l4End) return PARSE_BAD_L4
    h.srcPort = get16(b, l4)
    h.dstPort = get16(b, l4 + 2)
    h.tcpFlags = b[l4 + 13]
    h.hasPorts = true
  } else if (proto === IPPROTO_UDP) {
    if (l4 + UDP_HLEN > l4End) return PARSE_BAD_L4
    const ul = get16(b, l4 + 4)
    // A first fragment's UDP length covers the whole datagram, not this fragment.
    if (!h.moreFragments && (ul < UDP_HLEN || l4 + ul > l4End)) return PARSE_BAD_L4
    h.srcPort = get16(b, l4)
    h.dstPort = get16(b, l4 + 2)
    h.hasPorts = true
  } else if (proto === IPPROTO_ICMP) {
    if (l4 + ICMP_HLEN > l4End) return PARSE_BAD_L4
    h.icmpType = b[l4]
    h.icmpCode = b[l4 + 1]
    h.icmpId = get16(b, l4 + 4)
  }
  return PARSE_IPV4
}

/**
 * Reads the datagram an ICMP error quotes (RFC 792: its IP header and at least 8 bytes after
 * it) at o, into q: addresses, protocol, ports or ICMP identifier. The quote is cut short by
 * design, so its total length is not checked against the bytes there. False if the IP header
 * and 8 bytes of L4 do not fit before end.
 */
export function parseQuoted(b: Uint8Array, o: number, end: number, q: Headers): boolean {
  if (o + 20 > end || b[o] >>> 4 !== 4) return false
  const hl = (b[o] & 0x0f) << 2
  if (hl < 20 || o + hl + 8 > end) return false
  const l4 = o + hl
  q.l3 = o
  q.ipHeaderLength = hl
  q.totalLength = get16(b, o + 2)
  q.l3End = end
  q.proto = b[o + 9]
  q.src = get32(b, o + 12)
  q.dst = get32(b, o + 16)
  q.fragOffset = get16(b, o + 6) & 0x1fff
  q.moreFragments = (b[o + 6] & 0x20) !== 0
  q.l4 = q.fragOffset === 0 ? l4 : -1
  q.hasPorts = false
  q.srcPort = 0
  q.dstPort = 0
  q.icmpType = -1
  q.icmpCode = -1
  q.icmpId = 0
  if (q.l4 < 0) return true
  if (q.proto === IPPROTO_TCP || q.proto === IPPROTO_UDP) {
    q.srcPort = get16(b, l4)
    q.dstPort = get16(b, l4 + 2)
    q.hasPorts = true
  } else if (q.proto === IPPROTO_ICMP) {
    q.icmpType = b[l4]
    q.icmpCode = b[l4 + 1]
    q.icmpId = get16(b, l4 + 4)
  }
  return true
}
