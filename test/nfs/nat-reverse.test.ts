// NAT translate-then-reverse: a packet translated on its way out, answered by a remote that
// swaps addresses and ports (which leaves checksums alone), and translated back on its way
// in is, swapped once more, the packet the inside host sent, byte for byte.

import test from 'ava'
import fc from 'fast-check'
import { adjustChecksum16 } from '../../src/packet/index.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'
import { checksumsOk, headers, LAN, natOf, replyTo, WAN } from './nat-helpers.ts'

const insideArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`)
const remoteArb = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255))
  .filter(([a]) => a !== 10).map(q => q.join('.'))

test('translate then reverse gives back the original packet (property)', t => {
  const { h: nat, c } = natOf()
  fc.assert(fc.property(
    fc.constantFrom<'tcp' | 'udp' | 'icmp'>('tcp', 'udp', 'icmp'), insideArb, remoteArb,
    fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 200 }),
    fc.constantFrom([], [1, 1, 1, 0]), fc.constantFrom([], [42]), fc.boolean(),
    (proto, src, dst, sp, dp, payload, options, vlan, noUdpChecksum) => {
      const spec = { proto, src, dst, srcPort: sp, dstPort: dp, icmpType: 8, icmpId: sp, payload, options, vlan, noUdpChecksum }
      const original = ipv4Frame(spec)
      const out = nat.send(original, { from: LAN })
      t.is(out.verdict, 'outside')
      t.true(checksumsOk(out.frame))
      const r = replyTo(out.frame)
      const h = headers(r)
      if (proto === 'icmp') {
        r[h.l4] = 0 // echo reply
        adjustChecksum16(r, h.l4 + 2, 0x0800, 0x0000)
      }
      const back = nat.send(r, { from: WAN })
      t.is(back.verdict, 'inside')
      t.true(checksumsOk(back.frame))
      const again = replyTo(back.frame)
      if (proto === 'icmp') {
        again[h.l4] = 8
        adjustChecksum16(again, h.l4 + 2, 0x0000, 0x0800)
      }
      t.deepEqual(again, original)
    },
  ), { numRuns: 1000 })
  t.true(c().mappingsActive > 900)
})

test('translate then reverse through a port forward (property)', t => {
  const { h: nat } = natOf({ forwards: [{ proto: 'tcp', port: 443, to: '10.0.0.5:8443' }, { proto: 'udp', port: 53, to: '10.0.0.53' }] })
  fc.assert(fc.property(fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'), remoteArb, fc.integer({ min: 1, max: 65535 }), fc.uint8Array({ maxLength: 100 }),
    (proto, remote, sp, payload) => {
      const original = ipv4Frame({ proto, src: remote, dst: '203.0.113.1', srcPort: sp, dstPort: proto === 'tcp' ? 443 : 53, payload })
      const p = nat.send(original, { from: WAN })
      t.is(p.verdict, 'inside')
      const r = nat.send(replyTo(p.frame), { from: LAN })
      t.is(r.verdict, 'outside')
      t.deepEqual(replyTo(r.frame), original)
    },
  ), { numRuns: 300 })
})

test('the inside sees unchanged inbound traffic for a flow it opened, over many packets', t => {
  const { fromInside, answer } = natOf()
  const out = fromInside({ src: '10.0.0.9', dst: '198.51.100.1', srcPort: 5555, dstPort: 80 })
  for (let i = 0; i < 100; i++) {
    const r = answer(out)
    t.is(r.verdict, 'inside')
    t.true(checksumsOk(r.frame))
  }
})
