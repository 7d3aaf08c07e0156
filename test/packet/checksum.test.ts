import test from 'ava'
import fc from 'fast-check'
import {
  checksumOf, checksumUpdate16, checksumUpdate32, fold16, onesSum, get16, set16, set32,
  ipv4ComputeChecksum, ipv4ChecksumOk, l4ComputeChecksum, Headers, parse, PARSE_IPV4,
  rewriteIpv4Src, rewriteIpv4Dst, rewriteSrcPort, rewriteDstPort, rewriteIcmpId, formatIpv4,
  translationDelta, translateSource, translateDestination, get32,
} from '../../src/packet/index.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'
import { guarded } from './guard.ts'

test('RFC 1071 worked example', t => {
  const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])
  t.is(fold16(onesSum(b, 0, 8, 0)), 0xddf2)
  t.is(checksumOf(b, 0, 8, 0), 0x220d)
  // An odd length pads the last byte with a zero byte.
  t.is(fold16(onesSum(b, 0, 7, 0)), fold16(0x0001 + 0xf203 + 0xf4f5 + 0xf600))
})

test('a real IPv4 header checksum', t => {
  const h = Uint8Array.from([0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7])
  t.is(ipv4ComputeChecksum(h, 0), 0xb861)
  t.true(ipv4ChecksumOk(h, 0))
  h[8] = 0x3f
  t.false(ipv4ChecksumOk(h, 0))
})

test('RFC 1624 update of one word equals a recompute (property)', t => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 2, maxLength: 64 }).filter(a => a.some(x => x !== 0)),
    fc.nat(), fc.integer({ min: 0, max: 0xffff }),
    (data, at, word) => {
      const b = data.length % 2 ? Uint8Array.from([...data, 0]) : data.slice()
      const i = (at % (b.length / 2)) * 2
      const before = checksumOf(b, 0, b.length, 0)
      const old = get16(b, i)
      set16(b, i, word)
      if (!b.some(x => x !== 0)) return true // all-zero data has two representations of zero
      t.is(checksumUpdate16(before, old, word), checksumOf(b, 0, b.length, 0))
    },
  ))
})

test('RFC 1624 update of a 32-bit word equals a recompute (property)', t => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    (data, addr) => {
      const b = data.slice()
      b[0] = 0x45 // never all zero, as in any real header
      const before = checksumOf(b, 0, 20, 0)
      const old = get32(b, 12)
      set32(b, 12, addr)
      t.is(checksumUpdate32(before, old, addr), checksumOf(b, 0, 20, 0))
    },
  ))
})

const ipArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map(q => q.join('.'))
const frameArb = fc.record({
  proto: fc.constantFrom<'tcp' | 'udp' | 'icmp'>('tcp', 'udp', 'icmp'),
  src: ipArb, dst: ipArb,
  srcPort: fc.integer({ min: 0, max: 65535 }), dstPort: fc.integer({ min: 0, max: 65535 }),
  icmpId: fc.integer({ min: 0, max: 65535 }),
  payload: fc.uint8Array({ maxLength: 300 }),
  options: fc.constantFrom([], [1, 1, 1, 0], [0x94, 4, 0, 0, 1, 1, 0, 0]),
  vlan: fc.constantFrom([], [5], [1, 2]),
  noUdpChecksum: fc.boolean(),
  ttl: fc.nat(255), id: fc.integer({ min: 0, max: 65535 }),
})

test('checksums after any address/port/identifier rewrite equal a full recompute (property)', t => {
  fc.assert(fc.property(
    frameArb, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }),
    (spec, newSrc, newDst, p1, p2) => {
      const f = ipv4Frame(spec)
      const h = new Headers()
      t.is(parse(f, 0, f.length, h), PARSE_IPV4)
      const udpNone = spec.proto === 'udp' && spec.noUdpChecksum
      const b = guarded(f, 0, f.length)
      rewriteIpv4Src(b, h, newSrc)
      rewriteIpv4Dst(b, h, newDst)
      if (h.hasPorts) {
        rewriteSrcPort(b, h, p1)
        rewriteDstPort(b, h, p2)
      } else rewriteIcmpId(b, h, p1)
      t.true(ipv4ChecksumOk(f, h.l3))
      t.is(get16(f, h.l3 + 10), ipv4ComputeChecksum(f, h.l3))
      const c = h.l4 + (spec.proto === 'tcp' ? 16 : spec.proto === 'udp' ? 6 : 2)
      if (udpNone) t.is(get16(f, c), 0)
      else t.is(get16(f, c), l4ComputeChecksum(f, h.l3), `${formatIpv4(newSrc)} ${spec.proto}`)
      const again = new Headers()
      parse(f, 0, f.length, again)
      t.is(again.src, newSrc)
      t.is(again.dst, newDst)
    },
  ), { numRuns: 500 })
})

test('a translation with precomputed deltas writes the same bytes as the field-by-field rewrites (property)', t => {
  fc.assert(fc.property(
    frameArb, fc.boolean(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 65535 }),
    (spec, source, addr, port) => {
      const f = ipv4Frame(spec)
      const h = new Headers()
      t.is(parse(f, 0, f.length, h), PARSE_IPV4)
      const icmp = !h.hasPorts
      const addrAt = h.l3 + (source ? 12 : 16)
      const portAt = icmp ? h.l4 + 4 : h.l4 + (source ? 0 : 2)
      const delta = translationDelta(h.proto, get32(f, addrAt), addr, get16(f, portAt), port)
      const expected = f.slice()
      const e = new Headers()
      parse(expected, 0, expected.length, e)
      if (source) rewriteIpv4Src(expected, e, addr)
      else rewriteIpv4Dst(expected, e, addr)
      if (icmp) rewriteIcmpId(expected, e, port)
      else if (source) rewriteSrcPort(expected, e, port)
      else rewriteDstPort(expected, e, port)
      const b = guarded(f, 0, f.length)
      if (source) translateSource(b, h, addr, port, delta)
      else translateDestination(b, h, addr, port, delta)
      t.deepEqual(f, expected)
    },
  ), { numRuns: 1000 })
})
