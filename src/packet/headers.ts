// One pass over a frame's headers into a reused Headers object: Ethernet and VLAN tags, then
// ARP, or IPv4 or IPv6 and the TCP, UDP, ICMP or ICMPv6 header they carry. For IPv6 it walks
// the extension headers (RFC 8200 4) to the upper layer, as nftables' inet family does to
// match ports. The NFs' per-packet decisions read integers from it; nothing is allocated and
// nothing at or past at + length is read. A frame that claims more than it holds (bad IHL,
// total or payload length past the frame, an extension header or TCP header cut short) is
// reported as malformed, never guessed at.

import { viewOf } from './bytes.ts'
import {
  ETH_TYPE, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD, ETHERTYPE_VLAN, VLAN_TAG_LEN,
} from './ethernet.ts'
import { ARP_LEN } from './arp.ts'
import {
  IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6, IPPROTO_MH, IPPROTO_ROUTING,
  IPV6_FRAG_HLEN, IPV6_FRAG_ID, IPV6_HLEN, IPV6_MAX_EXT_HEADERS, IPV6_SRC, IPV6_DST,
} from './ipv6.ts'
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST } from './icmpv6.ts'
import {
  IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_FLAG_MF, IPV4_FRAG, IPV4_FRAG_OFFSET_MASK, IPV4_ID, IPV4_MIN_HLEN,
  IPV4_PROTO, IPV4_DST, IPV4_SRC, IPV4_TOTAL_LENGTH, IPV4_TTL,
} from './ipv4.ts'
import { TCP_DATA_OFFSET, TCP_MIN_HLEN } from './tcp.ts'
import { UDP_HLEN, UDP_LENGTH } from './udp.ts'
import { ICMP_CODE, ICMP_HLEN, ICMP_ID, ICMP_TYPE } from './icmp.ts'

/** parse() results: >= 0 a well-formed frame of that kind, < 0 malformed. */
export const PARSE_IPV4 = 0
export const PARSE_ARP = 1
export const PARSE_IPV6 = 2
/** Any other EtherType; only Ethernet and VLAN fields are set. */
export const PARSE_OTHER = 3
/** The frame ends inside the Ethernet header, a VLAN tag, ARP, or the fixed IP header. */
export const PARSE_TRUNCATED = -1
/** IP version field not the EtherType's (4 for IPv4, 6 for IPv6), or an IPv4 IHL under 5. */
export const PARSE_BAD_IPV4 = -2
/**
 * IPv4 total length under the header length or past the end of the frame; IPv6 payload
 * length past the end of the frame, or a jumbogram (RFC 2675: payload length 0 and a
 * Hop-by-Hop header), which no Ethernet frame can carry.
 */
export const PARSE_BAD_LENGTH = -3
/**
 * TCP, UDP, ICMP or ICMPv6 header short or inconsistent, or a fragment that hides or overlaps
 * it (RFC 1858); for IPv6 also an extension header that runs past the packet, a chain of
 * more than IPV6_MAX_EXT_HEADERS, or a first fragment without the whole chain (RFC 7112).
 */
export const PARSE_BAD_L4 = -4

// Module-local copies of the header constants: TurboFan folds a module's own consts into the
// code, but loads an imported binding through its cell on every use (~30% of parse time).
const _ETH_TYPE = ETH_TYPE
const _VLAN_TAG_LEN = VLAN_TAG_LEN
const _ETHERTYPE_IPV4 = ETHERTYPE_IPV4
const _ETHERTYPE_ARP = ETHERTYPE_ARP
const _ETHERTYPE_IPV6 = ETHERTYPE_IPV6
const _ARP_LEN = ARP_LEN
const _IPV6_HLEN = IPV6_HLEN
const _IPV6_SRC = IPV6_SRC
const _IPV6_DST = IPV6_DST
const _IPV6_FRAG_HLEN = IPV6_FRAG_HLEN
const _IPV6_FRAG_ID = IPV6_FRAG_ID
const _IPV6_MAX_EXT_HEADERS = IPV6_MAX_EXT_HEADERS
const _IPPROTO_HOPOPTS = IPPROTO_HOPOPTS
const _IPPROTO_ROUTING = IPPROTO_ROUTING
const _IPPROTO_FRAGMENT = IPPROTO_FRAGMENT
const _IPPROTO_AH = IPPROTO_AH
const _IPPROTO_ICMPV6 = IPPROTO_ICMPV6
const _IPPROTO_DSTOPTS = IPPROTO_DSTOPTS
const _IPPROTO_MH = IPPROTO_MH
const _ICMPV6_ECHO_REQUEST = ICMPV6_ECHO_REQUEST
const _ICMPV6_ECHO_REPLY = ICMPV6_ECHO_REPLY
const _IPPROTO_ICMP = IPPROTO_ICMP
const _IPPROTO_TCP = IPPROTO_TCP
const _IPPROTO_UDP = IPPROTO_UDP
const _IPV4_FLAG_MF = IPV4_FLAG_MF
const _IPV4_FRAG = IPV4_FRAG
const _IPV4_FRAG_OFFSET_MASK = IPV4_FRAG_OFFSET_MASK
const _IPV4_ID = IPV4_ID
const _IPV4_MIN_HLEN = IPV4_MIN_HLEN
const _IPV4_PROTO = IPV4_PROTO
const _IPV4_DST = IPV4_DST
const _IPV4_SRC = IPV4_SRC
const _IPV4_TOTAL_LENGTH = IPV4_TOTAL_LENGTH
const _IPV4_TTL = IPV4_TTL
const _TCP_DATA_OFFSET = TCP_DATA_OFFSET
const _TCP_MIN_HLEN = TCP_MIN_HLEN
const _UDP_HLEN = UDP_HLEN
const _UDP_LENGTH = UDP_LENGTH
const _ICMP_CODE = ICMP_CODE
const _ICMP_HLEN = ICMP_HLEN
const _ICMP_ID = ICMP_ID
const _ICMP_TYPE = ICMP_TYPE
const _VLAN = ETHERTYPE_VLAN
const _QINQ = ETHERTYPE_QINQ
const _QINQ_OLD = ETHERTYPE_QINQ_OLD

export class Headers {
  /** The last parse() result. */
  status = PARSE_TRUNCATED
  /** EtherType of the payload, after VLAN tags. */
  etherType = 0
  /** Outermost VLAN id, or -1 if untagged. */
  vlanId = -1
  /** Offset of the network header in the byte view. */
  l3 = 0
  /**
   * Bytes of IP headers before the upper layer: IPv4's header, options included; IPv6's fixed
   * header and extension headers (for a non-first fragment, up to its Fragment header).
   */
  ipHeaderLength = 0
  /** IPv4 total length; IPv6: 40 + payload length. */
  totalLength = 0
  /** End of the IP datagram in the byte view: at most the end of the frame (which may be padded). */
  l3End = 0
  /**
   * IPv4 protocol; IPv6: the next header the walk stopped at (the upper layer, ESP or 59), or
   * for a non-first fragment its Fragment header's.
   */
  proto = 0
  /**
   * IPv4 addresses as int32 (a.b.c.d = a << 24 | ...). IPv6: the xor of the address's four
   * words, a 32-bit fold for hashing only (many addresses share it; compare src6 and dst6).
   */
  src = 0
  dst = 0
  /** IPv6 addresses as four big-endian int32 words each, set when parse() returns PARSE_IPV6. */
  readonly src6 = new Int32Array(4)
  readonly dst6 = new Int32Array(4)
  /** IPv4: the 16-bit identification; IPv6: the Fragment header's 32-bit one (0 without). */
  ipId = 0
  /** IPv4 TTL; IPv6 hop limit. */
  ttl = 0
  /** Fragment offset in 8-byte units; non-zero means no L4 header in this packet. */
  fragOffset = 0
  moreFragments = false
  /** Offset of the L4 header (IPv6 ESP and No Next Header: where they start), or -1 for a non-first fragment. */
  l4 = -1
  /** 1 if srcPort/dstPort were read (TCP or UDP, not a non-first fragment). */
  hasPorts = false
  srcPort = 0
  dstPort = 0
  tcpFlags = 0
  /** ICMP or ICMPv6 fields, or -1 when neither. */
  icmpType = -1
  icmpCode = -1
  /** The query identifier: ICMP's at bytes 4-5 of any message, ICMPv6's of echo only (else 0). */
  icmpId = 0
}

/** Parses the frame at [at, at + length) of b into h; returns the result (also in h.status). */
export function parse(b: Uint8Array, at: number, length: number, h: Headers): number {
  return (h.status = parseFrame(viewOf(b), at, at + length, h))
}

function parseFrame(v: DataView, at: number, end: number, h: Headers): number {
  h.l4 = -1
  h.hasPorts = false
  h.proto = 0
  h.vlanId = -1
  let o = at + _ETH_TYPE
  if (o + 2 > end) return PARSE_TRUNCATED
  let type = v.getUint16(o)
  if ((type === _VLAN || type === _QINQ || type === _QINQ_OLD)) {
    if (o + 4 > end) return PARSE_TRUNCATED
    h.vlanId = v.getUint16(o + 2) & 0x0fff
    do {
      o += _VLAN_TAG_LEN
      if (o + 2 > end) return PARSE_TRUNCATED
      type = v.getUint16(o)
    } while ((type === _VLAN || type === _QINQ || type === _QINQ_OLD))
  }
  o += 2
  h.etherType = type
  h.l3 = o
  if (type === _ETHERTYPE_IPV4) return parseIpv4(v, o, end, h)
  if (type === _ETHERTYPE_ARP) {
    return o + _ARP_LEN <= end && v.getInt32(o) === 0x00010800 && v.getUint16(o + 4) === 0x0604 ? PARSE_ARP : PARSE_TRUNCATED
  }
  if (type === _ETHERTYPE_IPV6) return parseIpv6(v, o, end, h)
  return PARSE_OTHER
}

/** No ports, TCP flags or ICMP fields: what a packet has until its L4 header is read. */
function clearTransport(h: Headers): void {
  h.hasPorts = false
  h.srcPort = 0
  h.dstPort = 0
  h.tcpFlags = 0
  h.icmpType = -1
  h.icmpCode = -1
  h.icmpId = 0
}

function parseIpv4(v: DataView, o: number, end: number, h: Headers): number {
  if (o + _IPV4_MIN_HLEN > end) return PARSE_TRUNCATED
  // Whole 32-bit words: version, IHL, TOS, total length; then id, flags, fragment offset.
  const w0 = v.getInt32(o)
  const w1 = v.getInt32(o + _IPV4_ID)
  if (w0 >>> 28 !== 4) return PARSE_BAD_IPV4
  const hl = (w0 >>> 22) & 0x3c
  if (hl < _IPV4_MIN_HLEN) return PARSE_BAD_IPV4
  // Total length at least the header and within the frame also puts the options in the frame.
  const tl = w0 & 0xffff
  if (tl < hl || o + tl > end) return PARSE_BAD_LENGTH
  const proto = v.getUint8(o + _IPV4_PROTO)
  const fragOffset = w1 & _IPV4_FRAG_OFFSET_MASK
  const mf = (w1 & _IPV4_FLAG_MF) !== 0
  h.ipHeaderLength = hl
  h.totalLength = tl
  h.l3End = o + tl
  h.ipId = w1 >>> 16
  h.ttl = v.getUint8(o + _IPV4_TTL)
  h.proto = proto
  h.src = v.getInt32(o + _IPV4_SRC)
  h.dst = v.getInt32(o + _IPV4_DST)
  h.fragOffset = fragOffset
  h.moreFragments = mf
  clearTransport(h)
  if (fragOffset !== 0) {
    // RFC 1858: a TCP fragment at offset 8 bytes can only be rewriting the flags of the first.
    return proto === _IPPROTO_TCP && fragOffset === 1 ? PARSE_BAD_L4 : PARSE_IPV4
  }
  const l4 = o + hl
  const l4End = o + tl
  h.l4 = l4
  if (proto === _IPPROTO_TCP || proto === _IPPROTO_UDP) {
    if (!readPorts(v, proto, l4, l4End, mf, h)) return PARSE_BAD_L4
  } else if (proto === _IPPROTO_ICMP) {
    if (l4 + _ICMP_HLEN > l4End) return PARSE_BAD_L4
    const w = v.getInt32(l4)
    h.icmpType = w >>> 24
    h.icmpCode = (w >>> 16) & 0xff
    h.icmpId = v.getUint16(l4 + _ICMP_ID)
  }
  return PARSE_IPV4
}

/**
 * Reads a TCP or UDP header at l4 into h (ports; TCP flags), for IPv4 and IPv6 alike; false if
 * it is short or inconsistent. A first fragment must hold the whole TCP header (RFC 1858 tiny
 * fragments); its UDP length covers the whole datagram, not this fragment, so is not checked.
 */
function readPorts(v: DataView, proto: number, l4: number, l4End: number, moreFragments: boolean, h: Headers): boolean {
  if (proto === _IPPROTO_TCP) {
    if (l4 + _TCP_MIN_HLEN > l4End) return false
    const w3 = v.getInt32(l4 + _TCP_DATA_OFFSET)
    const thl = (w3 >>> 28) << 2
    if (thl < _TCP_MIN_HLEN || l4 + thl > l4End) return false
    h.tcpFlags = (w3 >>> 16) & 0xff
  } else {
    if (l4 + _UDP_HLEN > l4End) return false
    const ul = v.getUint16(l4 + _UDP_LENGTH)
    if (!moreFragments && (ul < _UDP_HLEN || l4 + ul > l4End)) return false
  }
  const ports = v.getInt32(l4)
  h.srcPort = ports >>> 16
  h.dstPort = ports & 0xffff
  h.hasPorts = true
  return true
}

function parseIpv6(v: DataView, o: number, end: number, h: Headers): number {
  if (o + _IPV6_HLEN > end) return PARSE_TRUNCATED
  const w0 = v.getInt32(o)
  if (w0 >>> 28 !== 6) return PARSE_BAD_IPV4
  const w1 = v.getInt32(o + 4)
  const payload = w1 >>> 16
  const next = (w1 >>> 8) & 0xff
  const l3End = o + _IPV6_HLEN + payload
  if (l3End > end) return PARSE_BAD_LENGTH
  if (payload === 0 && next === _IPPROTO_HOPOPTS) return PARSE_BAD_LENGTH
  readAddresses6(v, o, h)
  h.ttl = w1 & 0xff
  h.totalLength = _IPV6_HLEN + payload
  h.l3End = l3End
  const s = walkIpv6(v, o, next, l3End, h)
  if (s < 0 || h.l4 < 0) return s
  const l4 = h.l4
  const proto = h.proto
  if (proto === _IPPROTO_TCP || proto === _IPPROTO_UDP) {
    if (!readPorts(v, proto, l4, l3End, h.moreFragments, h)) return PARSE_BAD_L4
  } else if (proto === _IPPROTO_ICMPV6) {
    if (l4 + _ICMP_HLEN > l3End) return PARSE_BAD_L4
    const w = v.getInt32(l4)
    const type = w >>> 24
    h.icmpType = type
    h.icmpCode = (w >>> 16) & 0xff
    if (type === _ICMPV6_ECHO_REQUEST || type === _ICMPV6_ECHO_REPLY) h.icmpId = v.getUint16(l4 + _ICMP_ID)
  }
  return PARSE_IPV6
}

function readAddresses6(v: DataView, o: number, h: Headers): void {
  const s = h.src6
  const d = h.dst6
  s[0] = v.getInt32(o + _IPV6_SRC)
  s[1] = v.getInt32(o + _IPV6_SRC + 4)
  s[2] = v.getInt32(o + _IPV6_SRC + 8)
  s[3] = v.getInt32(o + _IPV6_SRC + 12)
  d[0] = v.getInt32(o + _IPV6_DST)
  d[1] = v.getInt32(o + _IPV6_DST + 4)
  d[2] = v.getInt32(o + _IPV6_DST + 8)
  d[3] = v.getInt32(o + _IPV6_DST + 12)
  h.src = s[0] ^ s[1] ^ s[2] ^ s[3]
  h.dst = d[0] ^ d[1] ^ d[2] ^ d[3]
}

/**
 * Walks the extension headers after the fixed header at o, the first being `next`, all of
 * them before end: sets proto, l4 (-1 for a non-first fragment, whose upper-layer header is
 * in the first), ipHeaderLength and the fragment fields, and clears the L4 fields. The walk
 * stops at the first header that is not an extension header: the upper layer, or ESP and
 * No Next Header, where there is nothing more to read (their l4 is where they start, as for
 * IPv4's other protocols). A first fragment must hold the whole chain (RFC 7112), so a header
 * cut by end is malformed in any packet.
 */
function walkIpv6(v: DataView, o: number, next: number, end: number, h: Headers): number {
  h.fragOffset = 0
  h.moreFragments = false
  h.ipId = 0
  h.l4 = -1
  clearTransport(h)
  let p = o + _IPV6_HLEN
  for (let n = 0; ; n++) {
    let len: number
    if (next === _IPPROTO_HOPOPTS || next === _IPPROTO_ROUTING || next === _IPPROTO_DSTOPTS || next === _IPPROTO_MH) {
      if (p + 2 > end) return PARSE_BAD_L4
      len = (v.getUint8(p + 1) + 1) << 3
    } else if (next === _IPPROTO_AH) {
      if (p + 2 > end) return PARSE_BAD_L4
      len = (v.getUint8(p + 1) + 2) << 2
    } else if (next === _IPPROTO_FRAGMENT) {
      len = _IPV6_FRAG_HLEN
    } else break
    if (n === _IPV6_MAX_EXT_HEADERS || p + len > end) return PARSE_BAD_L4
    const w = v.getInt32(p)
    if (next === _IPPROTO_FRAGMENT) {
      // RFC 6946: offset 0 without M (an atomic fragment) is a whole packet; walk on.
      const fragOffset = (w & 0xffff) >>> 3
      h.fragOffset = fragOffset
      h.moreFragments = (w & 1) !== 0
      h.ipId = v.getUint32(p + _IPV6_FRAG_ID)
      if (fragOffset !== 0) {
        h.proto = w >>> 24
        h.ipHeaderLength = p + len - o
        // RFC 1858, as for IPv4: 8 bytes in can only be rewriting the first fragment's TCP flags.
        return h.proto === _IPPROTO_TCP && fragOffset === 1 ? PARSE_BAD_L4 : PARSE_IPV6
      }
    }
    next = w >>> 24
    p += len
  }
  h.proto = next
  h.l4 = p
  h.ipHeaderLength = p - o
  return PARSE_IPV6
}

/**
 * Reads the datagram an ICMP error quotes (RFC 792: its IP header and at least 8 bytes after
 * it) at o, into q: addresses, protocol, ports or ICMP identifier. The quote is cut short by
 * design, so its total length is not checked against the bytes there. False if the IP header
 * and 8 bytes of L4 do not fit before end.
 */
export function parseQuoted(b: Uint8Array, o: number, end: number, q: Headers): boolean {
  const v = viewOf(b)
  if (o + _IPV4_MIN_HLEN > end || v.getUint8(o) >>> 4 !== 4) return false
  const hl = (v.getUint8(o) & 0x0f) << 2
  if (hl < _IPV4_MIN_HLEN || o + hl + 8 > end) return false
  const l4 = o + hl
  q.l3 = o
  q.ipHeaderLength = hl
  q.totalLength = v.getUint16(o + _IPV4_TOTAL_LENGTH)
  q.l3End = end
  q.proto = v.getUint8(o + _IPV4_PROTO)
  q.src = v.getInt32(o + _IPV4_SRC)
  q.dst = v.getInt32(o + _IPV4_DST)
  q.fragOffset = v.getUint16(o + _IPV4_FRAG) & _IPV4_FRAG_OFFSET_MASK
  q.moreFragments = (v.getUint16(o + _IPV4_FRAG) & _IPV4_FLAG_MF) !== 0
  q.l4 = q.fragOffset === 0 ? l4 : -1
  clearTransport(q)
  if (q.l4 < 0) return true
  if (q.proto === _IPPROTO_TCP || q.proto === _IPPROTO_UDP) {
    q.srcPort = v.getUint16(l4)
    q.dstPort = v.getUint16(l4 + 2)
    q.hasPorts = true
  } else if (q.proto === _IPPROTO_ICMP) {
    q.icmpType = v.getUint8(l4 + _ICMP_TYPE)
    q.icmpCode = v.getUint8(l4 + _ICMP_CODE)
    q.icmpId = v.getUint16(l4 + _ICMP_ID)
  }
  return true
}

/**
 * Reads the IPv6 packet an ICMPv6 error quotes (RFC 4443 2.4: as much of it as fits in the
 * minimum MTU) at o, into q: addresses, the upper-layer protocol after the extension headers,
 * ports or echo identifier, as parse() would. The quote may be cut short, so its payload
 * length is not checked against the bytes there. False if the IPv6 header, its extension
 * headers and 8 bytes of L4 do not fit before end (a quoted non-first fragment needs no L4).
 */
export function parseQuoted6(b: Uint8Array, o: number, end: number, q: Headers): boolean {
  const v = viewOf(b)
  if (o + _IPV6_HLEN > end || v.getUint8(o) >>> 4 !== 6) return false
  const w1 = v.getInt32(o + 4)
  readAddresses6(v, o, q)
  q.l3 = o
  q.totalLength = _IPV6_HLEN + (w1 >>> 16)
  q.l3End = end
  q.ttl = w1 & 0xff
  if (walkIpv6(v, o, (w1 >>> 8) & 0xff, end, q) < 0) return false
  const l4 = q.l4
  if (l4 < 0) return true
  if (l4 + 8 > end) return false
  const proto = q.proto
  if (proto === _IPPROTO_TCP || proto === _IPPROTO_UDP) {
    q.srcPort = v.getUint16(l4)
    q.dstPort = v.getUint16(l4 + 2)
    q.hasPorts = true
  } else if (proto === _IPPROTO_ICMPV6) {
    const type = v.getUint8(l4 + _ICMP_TYPE)
    q.icmpType = type
    q.icmpCode = v.getUint8(l4 + _ICMP_CODE)
    if (type === _ICMPV6_ECHO_REQUEST || type === _ICMPV6_ECHO_REPLY) q.icmpId = v.getUint16(l4 + _ICMP_ID)
  }
  return true
}
