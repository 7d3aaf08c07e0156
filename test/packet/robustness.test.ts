import test from 'ava'
import fc from 'fast-check'
import {
  Headers, parse, parseQuoted, parseQuoted6, flowHashOf, symmetricFlowHash, flowHash, PARSE_IPV4, PARSE_IPV6, set16,
} from '../../src/packet/index.ts'
import { ipv4Frame, ipv6Frame } from '../../src/testing/frames.ts'

// Frames sit at the very end of their buffer: a read past the frame would throw RangeError.

test('parse never throws nor reads past the frame on random bytes (property)', t => {
  const h = new Headers()
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(16), (frame, at) => {
    const bytes = new Uint8Array(at + frame.length)
    bytes.set(frame, at)
    const s = parse(bytes, at, frame.length, h)
    t.true(s >= -4 && s <= 3)
    if (s === PARSE_IPV4) t.true(h.l3End <= at + frame.length)
  }), { numRuns: 3000 })
})

test('random IPv4-looking frames: mutated and cut valid frames (property)', t => {
  const h = new Headers()
  const q = new Headers()
  fc.assert(fc.property(
    fc.constantFrom<'tcp' | 'udp' | 'icmp'>('tcp', 'udp', 'icmp'), fc.nat(100),
    fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.nat(),
    (proto, payload, flips, cut) => {
      const f = ipv4Frame({ proto, payload, vlan: payload % 3 ? [] : [9] })
      for (const [i, v] of flips) f[i % f.length] = v
      const n = cut % (f.length + 1)
      const g = f.slice(0, n)
      const s = parse(g, 0, n, h)
      if (s === PARSE_IPV4) {
        t.true(h.l3End <= n)
        if (h.l4 >= 0) parseQuoted(g, h.l4, h.l3End, q)
      }
    },
  ), { numRuns: 3000 })
})

const NEXT_HEADERS = [0, 43, 44, 50, 51, 58, 59, 60, 135, 6, 17, 1, 47, 253]

test('random bytes after a valid IPv6 header: no throw, no read past the frame, PARSE_IPV6 with L4 inside or malformed (property)', t => {
  const h = new Headers()
  const q = new Headers()
  fc.assert(fc.property(
    fc.oneof(fc.constantFrom(...NEXT_HEADERS), fc.nat(255)), fc.uint8Array({ maxLength: 300 }),
    fc.option(fc.nat(400)), fc.nat(16), fc.array(fc.tuple(fc.nat(), fc.constantFrom(...NEXT_HEADERS)), { maxLength: 6 }),
    (next, rest, payloadLength, at, seeds) => {
      // Sprinkle plausible next-header values into the random bytes, so chains run long.
      for (const [i, v] of seeds) if (rest.length) rest[i % rest.length] = v
      const frame = ipv6Frame({ proto: next, rawL4: rest, payloadLength: payloadLength ?? undefined })
      frame[14 + 6] = next
      const bytes = new Uint8Array(at + frame.length)
      bytes.set(frame, at)
      const s = parse(bytes, at, frame.length, h)
      t.true(s === PARSE_IPV6 || s < 0, String(s))
      if (s === PARSE_IPV6) {
        t.true(h.l3End <= at + frame.length)
        t.true(h.l4 === -1 ? h.fragOffset !== 0 : h.l4 >= h.l3 + 40 && h.l4 <= h.l3End)
        if (h.hasPorts) t.true(h.l4 + 8 <= h.l3End)
        if (h.l4 >= 0 && h.proto === 58) parseQuoted6(bytes, h.l4 + 8, h.l3End, q)
      }
      // Any bytes as an ICMPv6 error's quote.
      parseQuoted6(bytes, at + 14, at + frame.length, q)
    },
  ), { numRuns: 4000 })
})

test('random IPv6 extension header chains, whole, cut and mis-sized (property)', t => {
  const h = new Headers()
  const extArb = fc.oneof(
    fc.constantFrom(0, 43, 60, 135, 51, 44),
    fc.tuple(fc.constantFrom(0, 43, 60, 135), fc.integer({ min: 1, max: 6 })).map(([x, k]) => [x, 8 * k] as const),
    fc.tuple(fc.constant(51), fc.integer({ min: 2, max: 8 })).map(([x, k]) => [x, 4 * k] as const),
  )
  fc.assert(fc.property(
    fc.array(extArb, { maxLength: 20 }), fc.constantFrom<'tcp' | 'udp' | 'icmpv6' | 50 | 59>('tcp', 'udp', 'icmpv6', 50, 59),
    fc.nat(7), fc.boolean(), fc.nat(64), fc.nat(),
    (ext, proto, fragOffset, mf, payload, cut) => {
      const frame = ipv6Frame({ proto, ext, fragOffset: ext.includes(44) ? fragOffset : 0, mf: ext.includes(44) && mf, payload })
      const whole = parse(frame, 0, frame.length, h)
      const lens = ext.map(e => (typeof e === 'number' ? (e === 51 ? 16 : 8) : e[1]))
      const fragAt = ext.findIndex(e => e === 44)
      const nonFirst = fragAt >= 0 && fragOffset !== 0
      const walked = nonFirst ? fragAt + 1 : ext.length
      if (walked > 16 || (nonFirst && proto === 'tcp' && fragOffset === 1 && fragAt === ext.length - 1)) t.true(whole < 0)
      else if (nonFirst) {
        t.is(whole, PARSE_IPV6)
        t.is(h.l4, -1)
        t.is(h.ipHeaderLength, 40 + lens.slice(0, walked).reduce((a, b) => a + b, 0))
      } else {
        t.is(whole, PARSE_IPV6)
        t.is(h.l4, 14 + 40 + lens.reduce((a, b) => a + b, 0))
        t.is(h.proto, { tcp: 6, udp: 17, icmpv6: 58, 50: 50, 59: 59 }[proto])
        t.is(h.hasPorts, proto === 'tcp' || proto === 'udp')
      }
      // Cut the frame (and say so in the payload length): never a throw, never past the end.
      const n = 54 + (cut % Math.max(1, frame.length - 54))
      const g = frame.slice(0, n)
      set16(g, 18, n - 54)
      const s = parse(g, 0, n, h)
      t.true(s === PARSE_IPV6 || s < 0)
      if (s === PARSE_IPV6) t.true(h.l4 <= n && h.l3End === n)
    },
  ), { numRuns: 2000 })
})

test('flow hashes: directional differs by direction, symmetric does not', t => {
  const a = 0x0a000001, b = 0x0a000002
  t.not(flowHash(a, b, 6, 1000, 80), flowHash(b, a, 6, 80, 1000))
  t.is(symmetricFlowHash(a, b, 6, 1000, 80), symmetricFlowHash(b, a, 6, 80, 1000))
  t.is(symmetricFlowHash(a, a, 17, 1, 2), symmetricFlowHash(a, a, 17, 2, 1))
  const f = ipv4Frame({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 80 })
  const h = new Headers()
  parse(f, 0, f.length, h)
  t.is(flowHashOf(h), flowHash(a, b, 6, 1000, 80))
  t.true(flowHashOf(h) >= 0)
})
