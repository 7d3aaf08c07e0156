import test from 'ava'
import {
  Headers, parse, PARSE_ARP, PARSE_BAD_IPV4, PARSE_BAD_L4, PARSE_BAD_LENGTH, PARSE_IPV4, PARSE_IPV6, PARSE_OTHER,
  PARSE_TRUNCATED, parseIpv4, set16, ETHERTYPE_ARP, arpOperation, arpSenderIp, arpTargetIp, isArpIpv4,
  ipv6NextHeader, isIpv6, ipv4ChecksumOk, etherTypeOffset, outerVlanId, ipv4Check, IPV4_BAD_IHL, IPV4_OK,
  IPV4_BAD_TOTAL_LENGTH, IPV4_TRUNCATED, IPV4_BAD_VERSION, tcpHeaderFits, udpHeaderFits, tcpSeq, tcpHeaderLength,
  icmpIsError, icmpIsQuery, ipv4IsFragment, ipv4FragmentOffset, ipv4MoreFragments, ipv4DontFragment, ipv4Ttl,
  parseQuoted, parseQuoted6, swapMacs, formatMac, writeMac, parseMac, parseIpv6, formatIpv6, parseCidr6, cidr6Contains,
  icmpv6IsError, icmpv6IsQuery, icmpv6IsNeighbourDiscovery,
} from '../../src/packet/index.ts'
import { arpFrame, ipv4Frame, ipv6Frame, l4Header } from '../../src/testing/frames.ts'

/** Parses a frame placed at the very end of its buffer, so a read past it would throw. */
function parsed(frame: Uint8Array, at = 10) {
  const bytes = new Uint8Array(at + frame.length)
  bytes.set(frame, at)
  const h = new Headers()
  const s = parse(bytes, at, frame.length, h)
  return { s, h, bytes, at }
}

const A = (s: string) => parseIpv4(s)!

test('Ethernet + IPv4 + TCP: every field', t => {
  const f = ipv4Frame({ src: '10.1.2.3', dst: '192.168.255.254', proto: 'tcp', srcPort: 40000, dstPort: 443, tcpFlags: 0x12, ttl: 17, id: 777, seq: 0xdeadbeef, payload: 100 })
  const { s, h, bytes, at } = parsed(f)
  t.is(s, PARSE_IPV4)
  t.is(h.etherType, 0x0800)
  t.is(h.vlanId, -1)
  t.is(h.l3, at + 14)
  t.is(h.ipHeaderLength, 20)
  t.is(h.totalLength, 20 + 20 + 100)
  t.is(h.l3End, at + 14 + 140)
  t.is(h.proto, 6)
  t.is(h.src, A('10.1.2.3'))
  t.is(h.dst, A('192.168.255.254'))
  t.is(h.ttl, 17)
  t.is(h.ipId, 777)
  t.is(h.l4, at + 34)
  t.true(h.hasPorts)
  t.is(h.srcPort, 40000)
  t.is(h.dstPort, 443)
  t.is(h.tcpFlags, 0x12)
  t.is(tcpSeq(bytes, h.l4), 0xdeadbeef)
  t.is(tcpHeaderLength(bytes, h.l4), 20)
  t.true(ipv4ChecksumOk(bytes, h.l3))
})

test('IPv4 options move the L4 header', t => {
  const f = ipv4Frame({ proto: 'udp', options: [0x94, 0x04, 0, 0, 1], srcPort: 5, dstPort: 6 })
  const { s, h, at } = parsed(f)
  t.is(s, PARSE_IPV4)
  t.is(h.ipHeaderLength, 28)
  t.is(h.l4, at + 14 + 28)
  t.is(h.srcPort, 5)
  t.is(h.dstPort, 6)
})

test('UDP and ICMP', t => {
  let r = parsed(ipv4Frame({ proto: 'udp', srcPort: 53, dstPort: 33000, payload: 3 }))
  t.is(r.s, PARSE_IPV4)
  t.is(r.h.proto, 17)
  t.deepEqual([r.h.srcPort, r.h.dstPort], [53, 33000])
  r = parsed(ipv4Frame({ proto: 'icmp', icmpType: 8, icmpId: 0xbeef }))
  t.is(r.s, PARSE_IPV4)
  t.false(r.h.hasPorts)
  t.deepEqual([r.h.icmpType, r.h.icmpCode, r.h.icmpId], [8, 0, 0xbeef])
  t.true(icmpIsQuery(8) && icmpIsQuery(0) && !icmpIsQuery(3))
  t.true(icmpIsError(3) && icmpIsError(11) && !icmpIsError(8))
})

test('other IP protocols have no ports', t => {
  const r = parsed(ipv4Frame({ proto: 47, payload: 20 }))
  t.is(r.s, PARSE_IPV4)
  t.is(r.h.proto, 47)
  t.false(r.h.hasPorts)
  t.is(r.h.l4, r.h.l3 + 20)
})

test('802.1Q and QinQ tags are skipped, the outer VLAN id kept', t => {
  let r = parsed(ipv4Frame({ vlan: [100], proto: 'tcp', dstPort: 22 }))
  t.is(r.s, PARSE_IPV4)
  t.is(r.h.vlanId, 100)
  t.is(r.h.l3, r.at + 18)
  t.is(r.h.dstPort, 22)
  r = parsed(ipv4Frame({ vlan: [4095, 7], qinq: true, proto: 'udp', dstPort: 53 }))
  t.is(r.s, PARSE_IPV4)
  t.is(r.h.vlanId, 4095)
  t.is(r.h.l3, r.at + 22)
  t.is(r.h.dstPort, 53)
  t.is(etherTypeOffset(r.bytes, r.at, 21), -1)
  t.is(etherTypeOffset(r.bytes, r.at, 22), r.at + 20)
  t.is(outerVlanId(r.bytes, r.at, 17), -1)
})

test('ARP', t => {
  const r = parsed(arpFrame({ op: 2, senderIp: '10.0.0.9', targetIp: '10.0.0.1' }))
  t.is(r.s, PARSE_ARP)
  t.is(r.h.etherType, ETHERTYPE_ARP)
  t.true(isArpIpv4(r.bytes, r.h.l3, r.at + 60))
  t.is(arpOperation(r.bytes, r.h.l3), 2)
  t.is(arpSenderIp(r.bytes, r.h.l3), A('10.0.0.9'))
  t.is(arpTargetIp(r.bytes, r.h.l3), A('10.0.0.1'))
  const short = arpFrame({}).slice(0, 14 + 27)
  t.is(parsed(short).s, PARSE_TRUNCATED)
})

const W = (s: string) => [...parseIpv6(s)!]

test('Ethernet + IPv6 + TCP: every field', t => {
  const f = ipv6Frame({ src: '2001:db8::1', dst: 'fe80::ffff:1:2', proto: 'tcp', srcPort: 40000, dstPort: 22, tcpFlags: 0x02, ttl: 9, payload: 30 })
  const { s, h, bytes, at } = parsed(f)
  t.is(s, PARSE_IPV6)
  t.is(h.etherType, 0x86dd)
  t.is(h.l3, at + 14)
  t.is(h.totalLength, 40 + 20 + 30)
  t.is(h.l3End, at + 14 + 90)
  t.is(h.ipHeaderLength, 40)
  t.is(h.proto, 6)
  t.deepEqual([...h.src6], W('2001:db8::1'))
  t.deepEqual([...h.dst6], W('fe80::ffff:1:2'))
  // src/dst: the documented fold, for hashes.
  t.is(h.src, W('2001:db8::1').reduce((a, b) => a ^ b))
  t.is(h.dst, W('fe80::ffff:1:2').reduce((a, b) => a ^ b))
  t.is(h.ttl, 9)
  t.is(h.l4, at + 54)
  t.true(h.hasPorts)
  t.deepEqual([h.srcPort, h.dstPort, h.tcpFlags], [40000, 22, 0x02])
  t.is(h.fragOffset, 0)
  t.false(h.moreFragments)
  t.is(h.icmpType, -1)
  t.true(isIpv6(bytes, h.l3, at + f.length))
  t.is(ipv6NextHeader(bytes, h.l3), 6)
  // The same Headers then an IPv4 frame: nothing of the IPv6 one is left in the fields IPv4 sets.
  const g = ipv4Frame({ proto: 'icmp' })
  const b2 = new Uint8Array(g.length)
  b2.set(g)
  t.is(parse(b2, 0, g.length, h), PARSE_IPV4)
  t.false(h.hasPorts)
  t.is(h.proto, 1)
})

test('IPv6 UDP, and a frame padded past the payload length', t => {
  const r = parsed(ipv6Frame({ proto: 'udp', srcPort: 53, dstPort: 33000, payload: 3, padTo: 120 }))
  t.is(r.s, PARSE_IPV6)
  t.deepEqual([r.h.proto, r.h.srcPort, r.h.dstPort], [17, 53, 33000])
  t.is(r.h.l3End, r.h.l3 + 40 + 11)
})

test('IPv6 extension headers: hop-by-hop, destination options, routing, mobility, AH before the upper layer', t => {
  const cases: Array<[Array<number | [number, number]>, number]> = [
    [[0], 8], [[60], 8], [[43], 8], [[135], 8], [[51], 16], [[[0, 16]], 16], [[[51, 24]], 24],
    [[0, 60, 43, 51, 60], 48], [[[60, 2048 / 8 * 8]], 2048],
  ]
  for (const [ext, len] of cases) {
    const r = parsed(ipv6Frame({ proto: 'tcp', ext, srcPort: 5, dstPort: 22 }))
    t.is(r.s, PARSE_IPV6, JSON.stringify(ext))
    t.is(r.h.ipHeaderLength, 40 + len, JSON.stringify(ext))
    t.is(r.h.l4, r.h.l3 + 40 + len)
    t.deepEqual([r.h.proto, r.h.srcPort, r.h.dstPort], [6, 5, 22])
  }
  const u = parsed(ipv6Frame({ proto: 'udp', ext: [0, 43], dstPort: 53 }))
  t.deepEqual([u.s, u.h.proto, u.h.dstPort], [PARSE_IPV6, 17, 53])
})

test('IPv6 ESP and No Next Header end the chain: no ports; other protocols have none either', t => {
  for (const [proto, ext] of [[50, [0]], [59, []], [59, [60]], [47, []]] as Array<[number, number[]]>) {
    const r = parsed(ipv6Frame({ proto, ext, payload: proto === 59 ? 0 : 16 }))
    t.is(r.s, PARSE_IPV6, String(proto))
    t.is(r.h.proto, proto)
    t.false(r.h.hasPorts)
    t.is(r.h.l4, r.h.l3 + 40 + ext.length * 8)
    t.true(r.h.l4 <= r.h.l3End)
  }
})

test('IPv6 fragments: the first has ports, the others none; 32-bit identification; atomic fragments are whole', t => {
  const first = parsed(ipv6Frame({ proto: 'udp', mf: true, id: 0xdeadbeef, srcPort: 1, dstPort: 2, payload: 16 }))
  t.is(first.s, PARSE_IPV6)
  t.true(first.h.moreFragments)
  t.is(first.h.fragOffset, 0)
  t.is(first.h.ipId, 0xdeadbeef)
  t.true(first.h.hasPorts)
  t.deepEqual([first.h.proto, first.h.srcPort, first.h.dstPort], [17, 1, 2])
  t.is(first.h.l4, first.h.l3 + 48)
  const later = parsed(ipv6Frame({ proto: 'udp', fragOffset: 3, id: 7, rawL4: new Uint8Array(24) }))
  t.is(later.s, PARSE_IPV6)
  t.is(later.h.fragOffset, 3)
  t.false(later.h.moreFragments)
  t.is(later.h.ipId, 7)
  t.is(later.h.l4, -1)
  t.false(later.h.hasPorts)
  t.is(later.h.proto, 17)
  t.is(later.h.ipHeaderLength, 48)
  // Behind other headers, and with M set.
  const mid = parsed(ipv6Frame({ proto: 'tcp', ext: [0, 44, 60], fragOffset: 100, mf: true, rawL4: new Uint8Array(8) }))
  t.deepEqual([mid.s, mid.h.l4, mid.h.fragOffset, mid.h.moreFragments, mid.h.proto], [PARSE_IPV6, -1, 100, true, 60])
  // RFC 6946: offset 0 without M is a whole packet.
  const atomic = parsed(ipv6Frame({ proto: 'tcp', ext: [44], dstPort: 80 }))
  t.deepEqual([atomic.s, atomic.h.fragOffset, atomic.h.moreFragments, atomic.h.dstPort], [PARSE_IPV6, 0, false, 80])
  // A first fragment's UDP length is the whole packet's.
  const udp = l4Header({ proto: 'udp', payload: 4 })
  set16(udp, 4, 1000)
  t.is(parsed(ipv6Frame({ proto: 17, mf: true, rawL4: udp })).s, PARSE_IPV6)
  t.is(parsed(ipv6Frame({ proto: 17, rawL4: udp })).s, PARSE_BAD_L4)
})

test('IPv6 first fragments must hold the whole header chain and L4 header (RFC 7112, 1858)', t => {
  const tcp = l4Header({ proto: 'tcp' })
  t.is(parsed(ipv6Frame({ proto: 6, mf: true, rawL4: tcp.slice(0, 19) })).s, PARSE_BAD_L4)
  t.is(parsed(ipv6Frame({ proto: 17, mf: true, rawL4: new Uint8Array(7) })).s, PARSE_BAD_L4)
  t.is(parsed(ipv6Frame({ proto: 58, mf: true, rawL4: new Uint8Array(7) })).s, PARSE_BAD_L4)
  // The fragment ends inside a Destination Options header that follows the Fragment header.
  const f = ipv6Frame({ proto: 6, ext: [44, [60, 16]], mf: true, rawL4: new Uint8Array(0) })
  t.is(parsed(f.slice(0, f.length - 8), 10).s, PARSE_BAD_LENGTH)
  const cut = ipv6Frame({ proto: 6, ext: [44, [60, 16]], mf: true, rawL4: new Uint8Array(0), payloadLength: 8 + 8 })
  t.is(parsed(cut).s, PARSE_BAD_L4)
  // 8 bytes in, a TCP fragment can only be rewriting the first one's flags.
  t.is(parsed(ipv6Frame({ proto: 6, fragOffset: 1, rawL4: new Uint8Array(16) })).s, PARSE_BAD_L4)
  t.is(parsed(ipv6Frame({ proto: 17, fragOffset: 1, rawL4: new Uint8Array(16) })).s, PARSE_IPV6)
})

test('IPv6 malformed: short header, bad version, payload length past the frame, jumbogram, cut chains, long chains', t => {
  const f = ipv6Frame({ proto: 'udp', payload: 20 })
  for (let n = 14; n < 54; n++) t.is(parsed(f.slice(0, n)).s, PARSE_TRUNCATED, `length ${n}`)
  for (let n = 54; n < f.length; n++) t.is(parsed(f.slice(0, n)).s, PARSE_BAD_LENGTH, `length ${n}`)
  const v4 = f.slice()
  v4[14] = 0x40
  t.is(parsed(v4).s, PARSE_BAD_IPV4)
  // Payload length 0 with a Hop-by-Hop header: a jumbogram (RFC 2675), which no frame here carries.
  t.is(parsed(ipv6Frame({ proto: 'udp', ext: [0], payloadLength: 0 })).s, PARSE_BAD_LENGTH)
  t.is(parsed(ipv6Frame({ proto: 59, payload: 0 })).s, PARSE_IPV6)
  // Every cut inside an extension header chain.
  const chain = ipv6Frame({ proto: 'tcp', ext: [0, [60, 24], 51, 44], dstPort: 22 })
  for (let cut = 1; cut < 8 + 24 + 16 + 8 + 20; cut++) {
    const g = chain.slice()
    set16(g, 18, cut)
    t.is(parsed(g.slice(0, 54 + cut)).s, PARSE_BAD_L4, `payload length ${cut}`)
  }
  // A header whose length reaches past the packet.
  const long = ipv6Frame({ proto: 'tcp', ext: [60] })
  long[54 + 1] = 200
  t.is(parsed(long).s, PARSE_BAD_L4)
  // 16 extension headers are walked; a 17th is malformed.
  t.is(parsed(ipv6Frame({ proto: 'tcp', ext: new Array(16).fill(60) })).s, PARSE_IPV6)
  t.is(parsed(ipv6Frame({ proto: 'tcp', ext: new Array(17).fill(60) })).s, PARSE_BAD_L4)
  // TCP header inconsistent.
  const tcp = l4Header({ proto: 'tcp' })
  tcp[12] = 6 << 4
  t.is(parsed(ipv6Frame({ proto: 6, rawL4: tcp })).s, PARSE_BAD_L4)
})

test('ICMPv6: type, code, and the echo identifier', t => {
  let r = parsed(ipv6Frame({ proto: 'icmpv6', icmpType: 128, icmpId: 0xbeef, ext: [0] }))
  t.is(r.s, PARSE_IPV6)
  t.is(r.h.proto, 58)
  t.false(r.h.hasPorts)
  t.deepEqual([r.h.icmpType, r.h.icmpCode, r.h.icmpId], [128, 0, 0xbeef])
  r = parsed(ipv6Frame({ proto: 'icmpv6', icmpType: 129, icmpId: 7 }))
  t.deepEqual([r.h.icmpType, r.h.icmpId], [129, 7])
  r = parsed(ipv6Frame({ proto: 'icmpv6', icmpType: 135, icmpCode: 0, icmpId: 0x1234, payload: 16 }))
  t.deepEqual([r.h.icmpType, r.h.icmpCode, r.h.icmpId], [135, 0, 0])
  r = parsed(ipv6Frame({ proto: 'icmpv6', icmpType: 1, icmpCode: 4 }))
  t.deepEqual([r.h.icmpType, r.h.icmpCode], [1, 4])
  t.true(icmpv6IsQuery(128) && icmpv6IsQuery(129) && !icmpv6IsQuery(8) && !icmpv6IsQuery(135))
  t.true([1, 2, 3, 4].every(icmpv6IsError) && !icmpv6IsError(0) && !icmpv6IsError(5) && !icmpv6IsError(128))
  t.true([133, 134, 135, 136, 137].every(icmpv6IsNeighbourDiscovery) && !icmpv6IsNeighbourDiscovery(128))
})

test('parseQuoted6 reads the IPv6 packet an ICMPv6 error quotes, extension headers included', t => {
  const inner = ipv6Frame({ src: '2001:db8::5', dst: '2001:db8:1::7', proto: 'udp', ext: [0], srcPort: 20000, dstPort: 53, payload: 30 }).slice(14)
  const f = ipv6Frame({ src: '2001:db8:ff::1', dst: '2001:db8::5', proto: 'icmpv6', icmpType: 1, icmpCode: 3, icmpId: 0, payload: inner })
  const r = parsed(f)
  t.is(r.s, PARSE_IPV6)
  const q = new Headers()
  t.true(parseQuoted6(r.bytes, r.h.l4 + 8, r.h.l3End, q))
  t.deepEqual([...q.src6], W('2001:db8::5'))
  t.deepEqual([...q.dst6], W('2001:db8:1::7'))
  t.deepEqual([q.proto, q.srcPort, q.dstPort, q.hasPorts], [17, 20000, 53, true])
  // Cut inside the quoted UDP header's first 8 bytes, or inside its Hop-by-Hop header: not enough.
  t.true(parseQuoted6(r.bytes, r.h.l4 + 8, r.h.l4 + 8 + 56, q))
  t.false(parseQuoted6(r.bytes, r.h.l4 + 8, r.h.l4 + 8 + 55, q))
  t.false(parseQuoted6(r.bytes, r.h.l4 + 8, r.h.l4 + 8 + 47, q))
  t.false(parseQuoted6(r.bytes, r.h.l4 + 8, r.h.l4 + 8 + 39, q))
  // An echo request quoted: its identifier.
  const echo = ipv6Frame({ proto: 'icmpv6', icmpType: 128, icmpId: 99 }).slice(14)
  const e = parsed(ipv6Frame({ proto: 'icmpv6', icmpType: 3, payload: echo }))
  t.true(parseQuoted6(e.bytes, e.h.l4 + 8, e.h.l3End, q))
  t.deepEqual([q.proto, q.icmpType, q.icmpId, q.hasPorts], [58, 128, 99, false])
  // Not an IPv6 packet.
  const v4 = ipv4Frame({ proto: 'udp' }).slice(14)
  const x = parsed(ipv6Frame({ proto: 'icmpv6', icmpType: 1, payload: new Uint8Array([...v4, ...new Uint8Array(40)]) }))
  t.false(parseQuoted6(x.bytes, x.h.l4 + 8, x.h.l3End, q))
})

test('IPv6 text: RFC 4291 forms in, RFC 5952 out; prefixes refuse host bits', t => {
  t.deepEqual(W('::'), [0, 0, 0, 0])
  t.deepEqual(W('::1'), [0, 0, 0, 1])
  t.deepEqual(W('2001:DB8::8:800:200C:417A'), [0x20010db8, 0, 0x00080800, 0x200c417a])
  t.deepEqual(W('::ffff:192.0.2.128'), [0, 0, 0xffff, (192 << 24) | (2 << 8) | 128])
  t.deepEqual(W('1:2:3:4:5:6:7:8'), [0x10002, 0x30004, 0x50006, 0x70008])
  t.deepEqual(W('1:2:3:4:5:6:7::'), [0x10002, 0x30004, 0x50006, 0x70000])
  t.deepEqual(W('1:2:3:4:5:6:1.2.3.4'), [0x10002, 0x30004, 0x50006, 0x01020304])
  for (const bad of ['', ':', ':::', '1:::2', ':1', '1:', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '12345::', 'g::',
    '1.2.3.4', '::1.2.3', '::01.2.3.4', '1.2.3.4::', '::1.2.3.4:1', 'fe80::1%eth0', ' ::1', '1:2:3:4:5:6:7:1.2.3.4']) {
    t.is(parseIpv6(bad), null, bad)
  }
  t.is(formatIpv6(parseIpv6('2001:0db8:0000:0000:0001:0000:0000:0001')!), '2001:db8::1:0:0:1')
  t.is(formatIpv6(parseIpv6('2001:db8:0:1:1:1:1:1')!), '2001:db8:0:1:1:1:1:1')
  t.is(formatIpv6(parseIpv6('::')!), '::')
  t.is(formatIpv6(parseIpv6('1::')!), '1::')
  t.deepEqual(parseCidr6('2001:db8::/32'), { words: Int32Array.from(W('2001:db8::')), prefix: 32 })
  t.is(parseCidr6('::1')?.prefix, 128)
  t.is(parseCidr6('::/0')?.prefix, 0)
  t.is(parseCidr6('fe80::/10')?.prefix, 10)
  for (const bad of ['2001:db8::1/32', 'fe80::/8', '::/129', '::/01', '::/', '::/-1', '10.0.0.0/8']) t.is(parseCidr6(bad), null, bad)
  const c = parseCidr6('2001:db8:8000::/33')!
  t.true(cidr6Contains(c, parseIpv6('2001:db8:ffff:ffff::1')!))
  t.false(cidr6Contains(c, parseIpv6('2001:db8:7fff::1')!))
})

test('other EtherTypes', t => {
  const f = ipv4Frame()
  set16(f, 12, 0x88cc)
  t.is(parsed(f).s, PARSE_OTHER)
})

test('truncated Ethernet and IPv4 headers', t => {
  const f = ipv4Frame({ proto: 'tcp' })
  for (let n = 0; n < 14; n++) t.is(parsed(f.slice(0, n)).s, PARSE_TRUNCATED, `length ${n}`)
  for (let n = 14; n < 34; n++) t.is(parsed(f.slice(0, n)).s, PARSE_TRUNCATED, `length ${n}`)
  // From 34 bytes the header fits but the total length (40) reaches past the frame.
  for (let n = 34; n < 54; n++) t.is(parsed(f.slice(0, n)).s, PARSE_BAD_LENGTH, `length ${n}`)
  t.is(parsed(f).s, PARSE_IPV4)
})

test('bad version and IHL', t => {
  const f = ipv4Frame()
  f[14] = 0x65
  t.is(parsed(f).s, PARSE_BAD_IPV4)
  for (const ihl of [0, 1, 4]) {
    f[14] = 0x40 | ihl
    t.is(parsed(f).s, PARSE_BAD_IPV4, `IHL ${ihl}`)
  }
  f[14] = 0x4f // 60-byte header in a 40-byte datagram
  t.is(parsed(f).s, PARSE_BAD_LENGTH)
  const tiny = ipv4Frame({ proto: 'udp' }).slice(0, 14 + 24)
  tiny[14] = 0x47 // 28-byte header in a 24-byte frame
  t.is(parsed(tiny).s, PARSE_BAD_LENGTH)
})

test('total length below the header or past the frame; padding after it is fine', t => {
  const f = ipv4Frame({ proto: 'udp' })
  set16(f, 16, 19)
  t.is(parsed(f).s, PARSE_BAD_LENGTH)
  set16(f, 16, f.length - 14 + 1)
  t.is(parsed(f).s, PARSE_BAD_LENGTH)
  const padded = ipv4Frame({ proto: 'udp', padTo: 60 })
  const r = parsed(padded)
  t.is(r.s, PARSE_IPV4)
  t.is(r.h.l3End, r.h.l3 + 28)
})

test('ipv4Check codes', t => {
  const f = ipv4Frame()
  t.is(ipv4Check(f, 14, f.length), IPV4_OK)
  t.is(ipv4Check(f, 14, 33), IPV4_TRUNCATED)
  f[14] = 0x55
  t.is(ipv4Check(f, 14, f.length), IPV4_BAD_VERSION)
  f[14] = 0x44
  t.is(ipv4Check(f, 14, f.length), IPV4_BAD_IHL)
  f[14] = 0x45
  set16(f, 16, 1000)
  t.is(ipv4Check(f, 14, f.length), IPV4_BAD_TOTAL_LENGTH)
})

test('short and inconsistent TCP headers', t => {
  const tcp = l4Header({ proto: 'tcp' })
  t.is(parsed(ipv4Frame({ proto: 6, rawL4: tcp.slice(0, 19) })).s, PARSE_BAD_L4)
  const bad = tcp.slice()
  bad[12] = 4 << 4 // data offset 4 words: under the minimum
  t.is(parsed(ipv4Frame({ proto: 6, rawL4: bad })).s, PARSE_BAD_L4)
  bad[12] = 6 << 4 // 24 bytes claimed, 20 there
  t.is(parsed(ipv4Frame({ proto: 6, rawL4: bad })).s, PARSE_BAD_L4)
  t.false(tcpHeaderFits(bad, 0, 20))
  t.true(tcpHeaderFits(tcp, 0, 20))
  const withOpts = parsed(ipv4Frame({ proto: 'tcp', tcpOptions: [2, 4, 5, 0xb4] }))
  t.is(withOpts.s, PARSE_IPV4)
  t.is(tcpHeaderLength(withOpts.bytes, withOpts.h.l4), 24)
})

test('short and inconsistent UDP and ICMP headers', t => {
  const udp = l4Header({ proto: 'udp', payload: 4 })
  t.is(parsed(ipv4Frame({ proto: 17, rawL4: udp.slice(0, 7) })).s, PARSE_BAD_L4)
  const long = udp.slice()
  set16(long, 4, 13)
  t.is(parsed(ipv4Frame({ proto: 17, rawL4: long })).s, PARSE_BAD_L4)
  set16(long, 4, 7)
  t.is(parsed(ipv4Frame({ proto: 17, rawL4: long })).s, PARSE_BAD_L4)
  t.false(udpHeaderFits(long, 0, 12))
  t.true(udpHeaderFits(udp, 0, 12))
  const icmp = l4Header({ proto: 'icmp' })
  t.is(parsed(ipv4Frame({ proto: 1, rawL4: icmp.slice(0, 7) })).s, PARSE_BAD_L4)
})

test('fragments: the first has ports, the others do not', t => {
  const first = parsed(ipv4Frame({ proto: 'udp', mf: true, srcPort: 1, dstPort: 2, payload: 16 }))
  t.is(first.s, PARSE_IPV4)
  t.true(first.h.moreFragments)
  t.is(first.h.fragOffset, 0)
  t.true(first.h.hasPorts)
  t.true(ipv4IsFragment(first.bytes, first.h.l3))
  t.true(ipv4MoreFragments(first.bytes, first.h.l3))
  const later = parsed(ipv4Frame({ proto: 'udp', fragOffset: 3, rawL4: new Uint8Array(24) }))
  t.is(later.s, PARSE_IPV4)
  t.is(later.h.fragOffset, 3)
  t.is(later.h.l4, -1)
  t.false(later.h.hasPorts)
  t.is(ipv4FragmentOffset(later.bytes, later.h.l3), 3)
  const last = parsed(ipv4Frame({ proto: 'tcp', fragOffset: 100, rawL4: new Uint8Array(8) }))
  t.is(last.s, PARSE_IPV4)
  t.false(last.h.hasPorts)
  const whole = parsed(ipv4Frame({ df: true, ttl: 3 }))
  t.false(ipv4IsFragment(whole.bytes, whole.h.l3))
  t.true(ipv4DontFragment(whole.bytes, whole.h.l3))
  t.is(ipv4Ttl(whole.bytes, whole.h.l3), 3)
})

test('RFC 1858: tiny first TCP fragments and offset-1 overlaps are malformed', t => {
  const tcp = l4Header({ proto: 'tcp' })
  t.is(parsed(ipv4Frame({ proto: 6, mf: true, rawL4: tcp.slice(0, 8) })).s, PARSE_BAD_L4)
  t.is(parsed(ipv4Frame({ proto: 6, fragOffset: 1, rawL4: new Uint8Array(16) })).s, PARSE_BAD_L4)
  t.is(parsed(ipv4Frame({ proto: 17, fragOffset: 1, rawL4: new Uint8Array(16) })).s, PARSE_IPV4)
})

test('parseQuoted reads the datagram an ICMP error quotes', t => {
  const inner = ipv4Frame({ src: '203.0.113.1', dst: '198.51.100.7', proto: 'udp', srcPort: 20000, dstPort: 53, payload: 30 }).slice(14, 14 + 28)
  const f = ipv4Frame({ proto: 'icmp', icmpType: 3, icmpCode: 3, icmpId: 0, payload: inner })
  const r = parsed(f)
  t.is(r.s, PARSE_IPV4)
  const q = new Headers()
  t.true(parseQuoted(r.bytes, r.h.l4 + 8, r.h.l3End, q))
  t.is(q.src, A('203.0.113.1'))
  t.is(q.dst, A('198.51.100.7'))
  t.is(q.proto, 17)
  t.deepEqual([q.srcPort, q.dstPort], [20000, 53])
  t.false(parseQuoted(r.bytes, r.h.l4 + 8, r.h.l3End - 1, q))
})

test('MAC helpers', t => {
  const f = ipv4Frame({ srcMac: '02:00:00:00:00:01', dstMac: 'aa:bb:cc:dd:ee:ff' })
  swapMacs(f, 0)
  t.is(formatMac(f, 0), '02:00:00:00:00:01')
  t.is(formatMac(f, 6), 'aa:bb:cc:dd:ee:ff')
  writeMac(f, 0, parseMac('01-23-45-67-89-AB')!)
  t.is(formatMac(f, 0), '01:23:45:67:89:ab')
  t.is(parseMac('01:23:45:67:89'), null)
})
