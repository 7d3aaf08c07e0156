// Address, port and ICMP identifier rewrites that keep every checksum right without
// re-summing the packet (RFC 1624). An IPv4 address is in the IP header checksum and in the
// TCP/UDP pseudo-header; a port only in the TCP/UDP checksum; an ICMP identifier only in the
// ICMP checksum. A non-first fragment carries no L4 checksum to fix; a first fragment does,
// and the delta applies to it as to a whole datagram. A UDP checksum of zero means "none"
// and stays zero; a computed zero is sent as 0xffff (RFC 768).

import { get16, set16, set32, viewOf } from './bytes.ts'
import { checksumApply, checksumDelta16, checksumDelta32, checksumUpdate16, checksumUpdate32, fold16 } from './checksum.ts'
import type { Headers } from './headers.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_CHECKSUM, IPV4_DST, IPV4_SRC } from './ipv4.ts'
import { TCP_CHECKSUM } from './tcp.ts'
import { UDP_CHECKSUM } from './udp.ts'
import { ICMP_CHECKSUM, ICMP_ID } from './icmp.ts'

// Module-local copies of imported constants: TurboFan folds these, not imported bindings.
const _IPPROTO_ICMP = IPPROTO_ICMP
const _IPPROTO_TCP = IPPROTO_TCP
const _IPPROTO_UDP = IPPROTO_UDP
const _IPV4_CHECKSUM = IPV4_CHECKSUM
const _IPV4_DST = IPV4_DST
const _IPV4_SRC = IPV4_SRC
const _TCP_CHECKSUM = TCP_CHECKSUM
const _UDP_CHECKSUM = UDP_CHECKSUM
const _ICMP_CHECKSUM = ICMP_CHECKSUM
const _ICMP_ID = ICMP_ID

/** Adjusts the checksum stored at c for a 16-bit word changing from `from` to `to`. */
export function adjustChecksum16(b: Uint8Array, c: number, from: number, to: number): void {
  const v = viewOf(b)
  v.setUint16(c, checksumUpdate16(v.getUint16(c), from, to))
}

/** Adjusts the checksum stored at c for a 32-bit field changing from `from` to `to`. */
export function adjustChecksum32(b: Uint8Array, c: number, from: number, to: number): void {
  const v = viewOf(b)
  v.setUint16(c, checksumUpdate32(v.getUint16(c), from, to))
}

/** The UDP form: a zero checksum (none) is left alone and a result of zero becomes 0xffff. */
export function adjustUdpChecksum16(b: Uint8Array, c: number, from: number, to: number): void {
  const v = viewOf(b)
  const old = v.getUint16(c)
  if (old === 0) return
  v.setUint16(c, checksumUpdate16(old, from, to) || 0xffff)
}

export function adjustUdpChecksum32(b: Uint8Array, c: number, from: number, to: number): void {
  const v = viewOf(b)
  const old = v.getUint16(c)
  if (old === 0) return
  v.setUint16(c, checksumUpdate32(old, from, to) || 0xffff)
}

/** Offset of the TCP or UDP checksum field in this packet, or -1 if it carries none. */
function l4ChecksumAt(h: Headers): number {
  if (h.l4 < 0) return -1
  if (h.proto === _IPPROTO_TCP) return h.l4 + _TCP_CHECKSUM
  if (h.proto === _IPPROTO_UDP) return h.l4 + _UDP_CHECKSUM
  return -1
}

function rewriteAddress(b: Uint8Array, h: Headers, field: number, addr: number): void {
  const at = h.l3 + field
  const v = viewOf(b)
  const old = v.getInt32(at)
  v.setInt32(at, addr)
  adjustChecksum32(b, h.l3 + _IPV4_CHECKSUM, old, addr)
  const c = l4ChecksumAt(h)
  if (c < 0) return
  if (h.proto === _IPPROTO_UDP) adjustUdpChecksum32(b, c, old, addr)
  else adjustChecksum32(b, c, old, addr)
}

/** Sets the IPv4 source address (and h.src), fixing the IP and TCP/UDP checksums. */
export function rewriteIpv4Src(b: Uint8Array, h: Headers, addr: number): void {
  rewriteAddress(b, h, _IPV4_SRC, addr)
  h.src = addr
}

/** Sets the IPv4 destination address (and h.dst), fixing the IP and TCP/UDP checksums. */
export function rewriteIpv4Dst(b: Uint8Array, h: Headers, addr: number): void {
  rewriteAddress(b, h, _IPV4_DST, addr)
  h.dst = addr
}

function rewritePort(b: Uint8Array, h: Headers, field: number, port: number): void {
  const at = h.l4 + field
  const v = viewOf(b)
  const old = v.getUint16(at)
  v.setUint16(at, port)
  const c = l4ChecksumAt(h)
  if (h.proto === _IPPROTO_UDP) adjustUdpChecksum16(b, c, old, port)
  else adjustChecksum16(b, c, old, port)
}

/** Sets the TCP/UDP source port (and h.srcPort); h must have ports (h.hasPorts). */
export function rewriteSrcPort(b: Uint8Array, h: Headers, port: number): void {
  rewritePort(b, h, 0, port)
  h.srcPort = port
}

/** Sets the TCP/UDP destination port (and h.dstPort); h must have ports (h.hasPorts). */
export function rewriteDstPort(b: Uint8Array, h: Headers, port: number): void {
  rewritePort(b, h, 2, port)
  h.dstPort = port
}

/** Sets the ICMP query identifier (and h.icmpId), fixing the ICMP checksum. */
export function rewriteIcmpId(b: Uint8Array, h: Headers, id: number): void {
  if (h.proto !== _IPPROTO_ICMP || h.l4 < 0) return
  const at = h.l4 + _ICMP_ID
  const v = viewOf(b)
  const old = v.getUint16(at)
  v.setUint16(at, id)
  adjustChecksum16(b, h.l4 + _ICMP_CHECKSUM, old, id)
  h.icmpId = id
}

// Translations with precomputed checksum deltas, for a rewrite applied to many packets (a NAT
// session's): the address and the port (or ICMP identifier) of one end change together, and
// the deltas of both are summed once by translationDelta, so the per-packet work is the field
// writes and one addition per checksum.

/**
 * The checksum deltas of rewriting one end of a flow from (fromAddr, fromPort) to (toAddr,
 * toPort), as ip | l4 << 16: `ip` for the IP header checksum; `l4` for the TCP or UDP
 * checksum (address in the pseudo-header, and port), or for ICMP the identifier alone (the
 * ICMP checksum covers no pseudo-header).
 */
export function translationDelta(proto: number, fromAddr: number, toAddr: number, fromPort: number, toPort: number): number {
  const ip = checksumDelta32(fromAddr, toAddr)
  const port = checksumDelta16(fromPort, toPort)
  const l4 = proto === _IPPROTO_ICMP ? port : fold16(ip + port)
  return ip | (l4 << 16)
}

function translate(b: Uint8Array, h: Headers, addrAt: number, addr: number, portAt: number, port: number, delta: number): void {
  const l3 = h.l3
  const l4 = h.l4
  const proto = h.proto
  set32(b, addrAt, addr)
  const ipc = l3 + _IPV4_CHECKSUM
  set16(b, ipc, checksumApply(get16(b, ipc), delta & 0xffff))
  set16(b, portAt, port)
  if (proto === _IPPROTO_TCP) {
    const c = l4 + _TCP_CHECKSUM
    set16(b, c, checksumApply(get16(b, c), delta >>> 16))
  } else if (proto === _IPPROTO_UDP) {
    const c = l4 + _UDP_CHECKSUM
    const old = get16(b, c)
    if (old !== 0) set16(b, c, checksumApply(old, delta >>> 16) || 0xffff)
  } else {
    const c = l4 + _ICMP_CHECKSUM
    set16(b, c, checksumApply(get16(b, c), delta >>> 16))
  }
}

/**
 * Rewrites the source address and the source port (TCP, UDP) or identifier (ICMP query) of
 * a packet with its L4 header (h.l4 >= 0), applying `delta` from translationDelta. h's
 * fields keep the values parsed.
 */
export function translateSource(b: Uint8Array, h: Headers, addr: number, port: number, delta: number): void {
  translate(b, h, h.l3 + _IPV4_SRC, addr, h.proto === _IPPROTO_ICMP ? h.l4 + _ICMP_ID : h.l4, port, delta)
}

/** translateSource for the destination address and port (or ICMP identifier). */
export function translateDestination(b: Uint8Array, h: Headers, addr: number, port: number, delta: number): void {
  translate(b, h, h.l3 + _IPV4_DST, addr, h.proto === _IPPROTO_ICMP ? h.l4 + _ICMP_ID : h.l4 + 2, port, delta)
}
