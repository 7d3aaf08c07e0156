import test from 'ava'
import {
  Headers, parse, PARSE_ARP, PARSE_BAD_IPV4, PARSE_BAD_L4, PARSE_BAD_LENGTH, PARSE_IPV4, PARSE_IPV6, PARSE_OTHER,
  PARSE_TRUNCATED, parseIpv4, set16, ETHERTYPE_ARP, arpOperation, arpSenderIp, arpTargetIp, isArpIpv4,
  ipv6NextHeader, isIpv6, ipv4ChecksumOk, etherTypeOffset, outerVlanId, ipv4Check, IPV4_BAD_IHL, IPV4_OK,
  IPV4_BAD_TOTAL_LENGTH, IPV4_TRUNCATED, IPV4_BAD_VERSION, tcpHeaderFits, udpHeaderFits, tcpSeq, tcpHeaderLength,
  icmpIsError, icmpIsQuery, ipv4IsFragment, ipv4FragmentOffset, ipv4MoreFragments, ipv4DontFragment, ipv4Ttl,
  parseQuoted, swapMacs, formatMac, writeMac, parseMac,
} from '../../src/packet/index.ts'
import { arpFrame, ipv4Frame, ipv6Frame, l4Header } from './craft.ts'

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

test('IPv6 is recognised, and a short one is truncated', t => {
  const f = ipv6Frame({ nextHeader: 6, payload: 20 })
  const r = parsed(f)
  t.is(r.s, PARSE_IPV6)
  t.true(isIpv6(r.bytes, r.h.l3, r.at + f.length))
  t.is(ipv6NextHeader(r.bytes, r.h.l3), 6)
  t.is(parsed(f.slice(0, f.length - 1)).s, PARSE_TRUNCATED)
  t.is(parsed(f.slice(0, 14 + 39)).s, PARSE_TRUNCATED)
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
