// DNS messages and the frames that carry them (UDP over IPv4 and IPv6, TCP over IPv4), with
// real checksums: for make-capture.ts and the tests. Not data-path code: it allocates freely.
import {
  buildIpv4Frame, checksumOf, IPPROTO_TCP, IPPROTO_UDP, onesSum, parseIpv4, parseIpv6, set16, set32, TCP_ACK, TCP_PSH,
} from 'xio-chain/packet'

export const TYPE_A = 1
export const TYPE_PTR = 12
export const TYPE_MX = 15
export const TYPE_TXT = 16
export const TYPE_AAAA = 28
export const TYPE_SRV = 33
export const TYPE_HTTPS = 65

/** A name in wire form, its case kept: labels behind their lengths, then the root's 0. */
export function wireName(name: string): number[] {
  const out: number[] = []
  for (const label of name.split('.').filter(Boolean)) out.push(label.length, ...Array.from(label, (c) => c.charCodeAt(0)))
  out.push(0)
  return out
}

export interface Message {
  id: number
  name: string
  qtype: number
  /** A response: QR set, and one answer (an address for A and AAAA, a string for TXT). */
  response?: boolean
  /** Header flags as they are, instead of "recursion desired" (and QR for a response). */
  flags?: number
}

/** A DNS message (RFC 1035 4.1) with one question, and for a response one answer pointing back at it. */
export function dnsMessage(m: Message): Uint8Array {
  const flags = m.flags ?? (m.response ? 0x8180 : 0x0100)
  const header = [m.id >> 8, m.id & 0xff, flags >> 8, flags & 0xff, 0, 1, 0, m.response ? 1 : 0, 0, 0, 0, 0]
  const question = [...wireName(m.name), m.qtype >> 8, m.qtype & 0xff, 0, 1]
  const rdata = m.qtype === TYPE_AAAA ? [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 0x80]
    : m.qtype === TYPE_TXT ? [11, ...Array.from('v=spf1 -all', (c) => c.charCodeAt(0))]
    : [192, 0, 2, 80]
  const answer = m.response ? [0xc0, 12, m.qtype >> 8, m.qtype & 0xff, 0, 1, 0, 0, 0x0e, 0x10, 0, rdata.length, ...rdata] : []
  return Uint8Array.from([...header, ...question, ...answer])
}

const SRC_MAC = Uint8Array.of(0x02, 0, 0, 0, 0x0a, 0x02)
const DST_MAC = Uint8Array.of(0x02, 0, 0, 0, 0x0a, 0x01)

function address(s: string): number {
  const a = parseIpv4(s)
  if (a === null) throw new Error(`not an IPv4 address: ${s}`)
  return a
}

/** Ethernet, IPv4 and UDP around `payload`. */
export function udp4(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(14 + 20 + 8 + payload.length + 60)
  const length = buildIpv4Frame(b, 0, { srcMac: SRC_MAC, dstMac: DST_MAC, src: address(src), dst: address(dst), proto: IPPROTO_UDP, srcPort, dstPort, payload })
  return b.slice(0, length)
}

/** Ethernet, IPv4 and a TCP segment (PSH, ACK unless told) around `payload`. */
export function tcp4(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array, fields: { seq?: number; ack?: number; tcpFlags?: number } = {}): Uint8Array {
  const b = new Uint8Array(14 + 20 + 20 + payload.length + 60)
  const length = buildIpv4Frame(b, 0, {
    srcMac: SRC_MAC, dstMac: DST_MAC, src: address(src), dst: address(dst), proto: IPPROTO_TCP, srcPort, dstPort,
    payload: payload.length ? payload : undefined, tcpFlags: fields.tcpFlags ?? TCP_PSH | TCP_ACK, seq: fields.seq, ack: fields.ack,
  })
  return b.slice(0, length)
}

/** A DNS message over TCP: its 2-byte length, then the message (RFC 1035 4.2.2). */
export function lengthPrefixed(message: Uint8Array): Uint8Array {
  return Uint8Array.from([message.length >> 8, message.length & 0xff, ...message])
}

/** Ethernet, IPv6 and UDP around `payload`, the UDP checksum over the IPv6 pseudo-header (RFC 8200 8.1). */
export function udp6(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const s = parseIpv6(src)
  const d = parseIpv6(dst)
  if (!s || !d) throw new Error(`not IPv6 addresses: ${src}, ${dst}`)
  const udpLength = 8 + payload.length
  const f = new Uint8Array(Math.max(60, 14 + 40 + udpLength))
  f.set(DST_MAC, 0)
  f.set(SRC_MAC, 6)
  set16(f, 12, 0x86dd)
  const ip = 14
  f[ip] = 0x60
  set16(f, ip + 4, udpLength)
  f[ip + 6] = IPPROTO_UDP
  f[ip + 7] = 64
  for (let i = 0; i < 4; i++) {
    set32(f, ip + 8 + 4 * i, s[i])
    set32(f, ip + 24 + 4 * i, d[i])
  }
  const udp = ip + 40
  set16(f, udp, srcPort)
  set16(f, udp + 2, dstPort)
  set16(f, udp + 4, udpLength)
  f.set(payload, udp + 8)
  // Pseudo-header: the two addresses, the upper-layer length and the next header.
  const pseudo = onesSum(f, ip + 8, 32, udpLength + IPPROTO_UDP)
  const c = checksumOf(f, udp, udpLength, pseudo)
  set16(f, udp + 6, c === 0 ? 0xffff : c)
  return f
}
