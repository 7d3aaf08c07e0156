// The NF test harness (`xio-chain/testing`) on the built-in NFs: frames in, what left each
// gate out, the clock in the test's hands.
import test from 'ava'
import { join } from 'node:path'
import { harness } from '../../src/testing/index.ts'
import nat from '../../src/nfs/nat/index.ts'
import firewall from '../../src/nfs/firewall/index.ts'
import router from '../../src/nfs/router/index.ts'
import { NFConfigError } from '../../src/xio/nf-types.ts'
import { Headers, parse, formatIpv4, ARP_OPER, ARP_REQUEST, get16 } from '../../src/packet/index.ts'
import { ipv4Frame } from '../packet/craft.ts'
import { root } from '../helpers/cli.ts'

const headers = (f: Uint8Array) => {
  const h = new Headers()
  parse(f, 0, f.length, h)
  return h
}

test('NAT: a mapping out, its reply back in, and expiry on the harness clock', (t) => {
  const h = harness(nat, { external: '203.0.113.1', inside: '10.0.0.0/8', timeouts: { udpUnreplied: 30 } }, { gates: { inside: 1, outside: 2 } })
  const out = h.send(ipv4Frame({ src: '10.0.0.2', dst: '198.51.100.9', proto: 'udp', srcPort: 5000, dstPort: 53 }), { from: 'inside' })
  t.is(out.verdict, 'outside')
  const mapped = headers(out.frame)
  t.is(formatIpv4(mapped.src), '203.0.113.1')
  const reply = () => ipv4Frame({ src: '198.51.100.9', dst: '203.0.113.1', proto: 'udp', srcPort: 53, dstPort: mapped.srcPort })
  t.is(h.send(reply(), { from: 'outside' }).verdict, 'inside')
  // Replied: the UDP timeout (120 s by default) now runs; 119 s later it still maps.
  h.advance(119_000)
  t.is(h.send(reply(), { from: 'outside' }).verdict, 'inside')
  h.advance(121_000)
  t.is(h.send(reply(), { from: 'outside' }).verdict, 'drop')
  t.is(h.counters().noMappingDrops, 1)
  t.is(h.out('inside').length, 2)
  t.is(h.dropped.length, 1)
})

test('firewall on a capture: what left and what was dropped, rule by rule', async (t) => {
  const h = harness(firewall, { default: 'drop', nonIp: 'allow', rules: [{ action: 'allow', proto: 'tcp', dstPort: 80 }] })
  const outcomes = await h.replay(join(root, 'pcaps/firewall-in.pcap'))
  t.true(outcomes.length > 0)
  for (const frame of h.out('out')) {
    const p = headers(frame)
    t.true(p.etherType !== 0x0800 || (p.proto === 6 && p.dstPort === 80), `only web and non-IP pass: ${p.proto}/${p.dstPort}`)
  }
  t.is(h.out('out').length + h.dropped.length, outcomes.length)
  t.is(h.counters()['rules/0/packets'], h.out('out').filter((f) => headers(f).etherType === 0x0800).length)
})

test('router: a packet held while ARP resolves, the request it sends, the packet released by the reply', (t) => {
  const h = harness(router, { address: '10.0.0.1/24' }, { gates: { chain: 1, wire: 2 } })
  const first = h.send(ipv4Frame({ src: '203.0.113.2', dst: '10.0.0.2', proto: 'udp', srcPort: 53, dstPort: 5000 }), { from: 'chain' })
  t.is(first.verdict, 'held')
  t.is(h.sent.length, 1, 'an ARP request went out')
  const request = h.sent[0].frame
  t.is(h.sent[0].gate, 'wire')
  t.is(get16(request, 14 + ARP_OPER), ARP_REQUEST)
  // The neighbour answers: the held packet leaves after the reply is taken.
  const answer = new Uint8Array(42)
  answer.set(request.subarray(6, 12), 0) // to the router
  answer.set([2, 0, 0, 0, 0, 2], 6)
  answer.set(request.subarray(12, 22), 12)
  answer[21] = 2 // reply
  answer.set([2, 0, 0, 0, 0, 2], 22)
  answer.set([10, 0, 0, 2], 28)
  answer.set(request.subarray(22, 28), 32)
  answer.set([10, 0, 0, 1], 38)
  h.send(answer, { from: 'wire' })
  const released = h.out('wire').slice(1)
  t.is(released.length, 1)
  t.deepEqual([...released[0].subarray(0, 6)], [2, 0, 0, 0, 0, 2], 'to the MAC the neighbour answered with')
})

test('a bad config is refused as validate would, naming the field', (t) => {
  const e = t.throws(() => harness(nat, { external: '203.0.113.1', ports: [3000, 2000] } as never), { instanceOf: NFConfigError })
  t.regex(e!.message, /^\/ports/)
})
