// Building Ethernet + IPv4 + TCP/UDP/ICMP frames in place, with correct checksums: for the
// traffic generator and the scripts that make the bundled captures. Not a data-path tool:
// an NF rewrites headers (rewrite.ts), it does not build them.
import { set16, set32 } from './bytes.ts'
import { ETHERTYPE_IPV4 } from './ethernet.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, ipv4SetChecksum } from './ipv4.ts'
import { l4SetChecksum } from './l4-checksum.ts'
import { TCP_ACK } from './tcp.ts'

export interface FrameFields {
  srcMac?: Uint8Array
  dstMac?: Uint8Array
  /** IPv4 addresses as int32 (a.b.c.d = a << 24 | ...). */
  src: number
  dst: number
  proto: number
  srcPort?: number
  dstPort?: number
  /** Frame length in bytes, at least 60 (Ethernet's minimum without FCS). */
  size?: number
  ttl?: number
  ipId?: number
  /** TCP flags byte (default ACK). */
  tcpFlags?: number
  seq?: number
  ack?: number
  /** ICMP type and code (default echo request), identifier and sequence. */
  icmpType?: number
  icmpCode?: number
  icmpId?: number
  icmpSeq?: number
  /** Bytes to start the payload with; the rest is zero. */
  payload?: Uint8Array
}


const DEFAULT_SRC_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01)
const DEFAULT_DST_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x02)

function l4HeaderLength(proto: number): number {
  return proto === IPPROTO_TCP ? 20 : proto === IPPROTO_UDP ? 8 : proto === IPPROTO_ICMP ? 8 : 0
}

/** Writes a frame at b[at...] and returns its length. The caller provides room for `size` bytes. */
export function buildIpv4Frame(b: Uint8Array, at: number, f: FrameFields): number {
  const l4Length = l4HeaderLength(f.proto)
  const payloadLength = f.payload?.length ?? 0
  // A short frame is padded after the datagram, as Ethernet requires, not inside it.
  const totalLength = Math.max(20 + l4Length + payloadLength, (f.size ?? 0) - 14)
  const size = Math.max(60, 14 + totalLength)
  b.fill(0, at, at + size)
  b.set(f.dstMac ?? DEFAULT_DST_MAC, at)
  b.set(f.srcMac ?? DEFAULT_SRC_MAC, at + 6)
  set16(b, at + 12, ETHERTYPE_IPV4)
  const ip = at + 14
  b[ip] = 0x45
  set16(b, ip + 2, totalLength)
  set16(b, ip + 4, f.ipId ?? 0)
  b[ip + 8] = f.ttl ?? 64
  b[ip + 9] = f.proto
  set32(b, ip + 12, f.src)
  set32(b, ip + 16, f.dst)
  const l4 = ip + 20
  if (f.proto === IPPROTO_TCP) {
    set16(b, l4, f.srcPort ?? 0)
    set16(b, l4 + 2, f.dstPort ?? 0)
    set32(b, l4 + 4, f.seq ?? 0)
    set32(b, l4 + 8, f.ack ?? 0)
    b[l4 + 12] = 5 << 4
    b[l4 + 13] = f.tcpFlags ?? TCP_ACK
    set16(b, l4 + 14, 65535)
  } else if (f.proto === IPPROTO_UDP) {
    set16(b, l4, f.srcPort ?? 0)
    set16(b, l4 + 2, f.dstPort ?? 0)
    set16(b, l4 + 4, totalLength - 20)
  } else if (f.proto === IPPROTO_ICMP) {
    b[l4] = f.icmpType ?? 8
    b[l4 + 1] = f.icmpCode ?? 0
    set16(b, l4 + 4, f.icmpId ?? 0)
    set16(b, l4 + 6, f.icmpSeq ?? 0)
  }
  if (f.payload) b.set(f.payload, l4 + l4Length)
  ipv4SetChecksum(b, ip)
  l4SetChecksum(b, ip)
  return size
}
