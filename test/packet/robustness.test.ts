import test from 'ava'
import fc from 'fast-check'
import { Headers, parse, parseQuoted, flowHashOf, symmetricFlowHash, flowHash, PARSE_IPV4 } from '../../src/packet/index.ts'
import { ipv4Frame } from './craft.ts'

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
