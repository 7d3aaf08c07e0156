// Frames to test NFs with: Ethernet (optionally VLAN-tagged) with ARP, IPv4 (options,
// fragments) carrying TCP, UDP or ICMP, or IPv6 (extension headers, fragments) carrying TCP,
// UDP or ICMPv6, every checksum right unless asked otherwise: `ipv4Frame({ proto: 'udp', src:
// '10.0.0.2', dstPort: 53 })`. Test code: it allocates freely.

import type { Packet } from '../xio/nf-types.ts'
import {
  checksumOf, ipv4SetChecksum, l4SetChecksum, parseIpv4, parseIpv6, parseMac, set16, set32,
} from '../packet/index.ts'

export interface FrameSpec {
  srcMac?: string
  dstMac?: string
  /** VLAN ids, outermost first (TPID 0x8100; qinq: true makes the outer one 0x88a8). */
  vlan?: readonly number[]
  qinq?: boolean
  src?: string
  dst?: string
  proto?: 'tcp' | 'udp' | 'icmp' | number
  ttl?: number
  id?: number
  df?: boolean
  mf?: boolean
  /** In 8-byte units. */
  fragOffset?: number
  /** IP option bytes, padded with zeros (end of options) to a multiple of 4. */
  options?: readonly number[]
  srcPort?: number
  dstPort?: number
  tcpFlags?: number
  seq?: number
  tcpOptions?: readonly number[]
  icmpType?: number
  icmpCode?: number
  icmpId?: number
  icmpSeq?: number
  /** Bytes after the L4 header: a length (filled with a pattern) or the bytes. */
  payload?: number | Uint8Array
  /** Replace the whole L4 part (header included) with these bytes, e.g. for a non-first fragment. */
  rawL4?: Uint8Array
  /** Pad the frame with zeros up to this length (Ethernet minimum: 60). */
  padTo?: number
  /** UDP: send a zero checksum ("none"). */
  noUdpChecksum?: boolean
}

const PROTOS = { tcp: 6, udp: 17, icmp: 1 } as const

function ip(s: string): number {
  const a = parseIpv4(s)
  if (a === null) throw new Error(`bad address ${s}`)
  return a
}

function l2(spec: FrameSpec, etherType: number, l3: Uint8Array): Uint8Array {
  const tags = spec.vlan ?? []
  const len = 14 + 4 * tags.length + l3.length
  const f = new Uint8Array(Math.max(len, spec.padTo ?? 0))
  f.set(parseMac(spec.dstMac ?? '02:00:00:00:00:02')!, 0)
  f.set(parseMac(spec.srcMac ?? '02:00:00:00:00:01')!, 6)
  let o = 12
  tags.forEach((vid, i) => {
    set16(f, o, i === 0 && spec.qinq ? 0x88a8 : 0x8100)
    set16(f, o + 2, vid & 0xfff)
    o += 4
  })
  set16(f, o, etherType)
  f.set(l3, o + 2)
  return f
}

function payloadBytes(p: FrameSpec['payload']): Uint8Array {
  if (p instanceof Uint8Array) return p
  const n = p ?? 0
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 255
  return b
}

export function l4Header(spec: FrameSpec): Uint8Array {
  const proto = typeof spec.proto === 'number' ? spec.proto : PROTOS[spec.proto ?? 'tcp']
  const pay = payloadBytes(spec.payload)
  let h: Uint8Array
  if (proto === 6) {
    const opts = spec.tcpOptions ?? []
    const hl = 20 + Math.ceil(opts.length / 4) * 4
    h = new Uint8Array(hl + pay.length)
    set16(h, 0, spec.srcPort ?? 12345)
    set16(h, 2, spec.dstPort ?? 80)
    set32(h, 4, spec.seq ?? 1000)
    h[12] = (hl / 4) << 4
    h[13] = spec.tcpFlags ?? 0x10
    set16(h, 14, 65535)
    h.set(opts, 20)
    h.set(pay, hl)
  } else if (proto === 17) {
    h = new Uint8Array(8 + pay.length)
    set16(h, 0, spec.srcPort ?? 12345)
    set16(h, 2, spec.dstPort ?? 53)
    set16(h, 4, 8 + pay.length)
    h.set(pay, 8)
  } else if (proto === 1 || proto === 58) {
    h = new Uint8Array(8 + pay.length)
    h[0] = spec.icmpType ?? (proto === 1 ? 8 : 128)
    h[1] = spec.icmpCode ?? 0
    set16(h, 4, spec.icmpId ?? 0x1234)
    set16(h, 6, spec.icmpSeq ?? 1)
    h.set(pay, 8)
  } else {
    h = pay
  }
  return h
}

/** An Ethernet + IPv4 frame. */
export function ipv4Frame(spec: FrameSpec = {}): Uint8Array {
  const proto = typeof spec.proto === 'number' ? spec.proto : PROTOS[spec.proto ?? 'tcp']
  const opts = spec.options ?? []
  const hl = 20 + Math.ceil(opts.length / 4) * 4
  const l4 = spec.rawL4 ?? l4Header(spec)
  const d = new Uint8Array(hl + l4.length)
  d[0] = 0x40 | (hl / 4)
  set16(d, 2, d.length)
  set16(d, 4, spec.id ?? 0x4242)
  set16(d, 6, (spec.df ? 0x4000 : 0) | (spec.mf ? 0x2000 : 0) | (spec.fragOffset ?? 0))
  d[8] = spec.ttl ?? 64
  d[9] = proto
  set32(d, 12, ip(spec.src ?? '10.0.0.1'))
  set32(d, 16, ip(spec.dst ?? '192.0.2.1'))
  d.set(opts, 20)
  d.set(l4, hl)
  ipv4SetChecksum(d, 0)
  if (!spec.rawL4 && !spec.mf && !spec.fragOffset) {
    if (!(proto === 17 && spec.noUdpChecksum)) l4SetChecksum(d, 0)
  }
  return l2(spec, 0x0800, d)
}

export function arpFrame(spec: FrameSpec & { op?: number; senderIp?: string; targetIp?: string } = {}): Uint8Array {
  const a = new Uint8Array(28)
  set16(a, 0, 1)
  set16(a, 2, 0x0800)
  a[4] = 6
  a[5] = 4
  set16(a, 6, spec.op ?? 1)
  a.set(parseMac(spec.srcMac ?? '02:00:00:00:00:01')!, 8)
  set32(a, 14, ip(spec.senderIp ?? '10.0.0.1'))
  set32(a, 24, ip(spec.targetIp ?? '10.0.0.2'))
  return l2({ padTo: 60, ...spec, dstMac: spec.dstMac ?? 'ff:ff:ff:ff:ff:ff' }, 0x0806, a)
}

export interface Ipv6FrameSpec extends Omit<FrameSpec, 'proto' | 'options' | 'df'> {
  /** src and dst are IPv6 text here. Default udp. */
  proto?: 'tcp' | 'udp' | 'icmpv6' | number
  /**
   * Extension headers before the upper layer, in order: a next-header value, or [value,
   * bytes] (default 8; AH 16). 44 is a Fragment header from fragOffset, mf and id; one is
   * added last when those ask for a fragment and the list has none.
   */
  ext?: ReadonlyArray<number | readonly [number, number]>
  /** The fixed header's next header, when it should not be the first of ext or proto. */
  nextHeader?: number
  /** The payload length field, when it should not be the real one. */
  payloadLength?: number
}

const PROTOS6 = { tcp: 6, udp: 17, icmpv6: 58 } as const

/** An IPv6 address's 16 bytes. */
function ip6(s: string): Uint8Array {
  const a = parseIpv6(s)
  if (a === null) throw new Error(`bad address ${s}`)
  const b = new Uint8Array(16)
  a.forEach((w, i) => set32(b, i * 4, w))
  return b
}

/** An Ethernet + IPv6 frame; TCP, UDP and ICMPv6 checksums over the RFC 8200 8.1 pseudo-header. */
export function ipv6Frame(spec: Ipv6FrameSpec = {}): Uint8Array {
  const proto = typeof spec.proto === 'number' ? spec.proto : PROTOS6[spec.proto ?? 'udp']
  const fragment = spec.mf === true || (spec.fragOffset ?? 0) !== 0
  const ext = [...(spec.ext ?? [])].map(e => (typeof e === 'number' ? [e, e === 51 ? 16 : 8] as const : e))
  if (fragment && !ext.some(([t]) => t === 44)) ext.push([44, 8])
  const l4 = spec.rawL4 ?? l4Header({ ...spec, proto })
  const extLen = ext.reduce((n, [, len]) => n + len, 0)
  const d = new Uint8Array(40 + extLen + l4.length)
  d[0] = 0x60
  set16(d, 4, spec.payloadLength ?? d.length - 40)
  d[7] = spec.ttl ?? 64
  d.set(ip6(spec.src ?? '2001:db8::1'), 8)
  d.set(ip6(spec.dst ?? '2001:db8::2'), 24)
  let next = 6 // where the next-header field of the current header is
  let o = 40
  for (const [type, len] of ext) {
    d[next] = type
    next = o
    if (type === 44) {
      set16(d, o + 2, ((spec.fragOffset ?? 0) << 3) | (spec.mf ? 1 : 0))
      set32(d, o + 4, spec.id ?? 0x4242)
    } else d[o + 1] = type === 51 ? len / 4 - 2 : len / 8 - 1
    o += len
  }
  d[next] = proto
  if (spec.nextHeader !== undefined) d[6] = spec.nextHeader
  d.set(l4, o)
  const field = proto === 6 ? 16 : proto === 17 ? 6 : proto === 58 ? 2 : -1
  if (!spec.rawL4 && !fragment && field >= 0 && !(proto === 17 && spec.noUdpChecksum)) {
    let sum = l4.length + proto
    for (let i = 8; i < 40; i += 2) sum += (d[i] << 8) | d[i + 1]
    const c = checksumOf(d, o, l4.length, sum)
    set16(d, o + field, proto === 17 && c === 0 ? 0xffff : c)
  }
  return l2({ ...spec, proto }, 0x86dd, d)
}

/** A Packet over a frame copied into a larger buffer at offset `at`, with guard bytes around it. */
export function packetOf(frame: Uint8Array, opts: { at?: number; from?: number; inPort?: number } = {}): Packet {
  const at = opts.at ?? 64
  const bytes = new Uint8Array(at + frame.length + 64).fill(0xee)
  bytes.set(frame, at)
  return {
    bytes,
    view: new DataView(bytes.buffer),
    d: 0,
    at,
    length: frame.length,
    from: opts.from ?? 0,
    inPort: opts.inPort ?? 0,
    flowHash: 0,
  }
}

/** The frame bytes of a packet. */
export function frameOf(p: Packet): Uint8Array {
  return p.bytes.slice(p.at, p.at + p.length)
}
