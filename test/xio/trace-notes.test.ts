// What an NF's runner notes for a traced packet: the counters process() moved, drop reasons
// and rule hits first, with the noise (bytes, gauges, caches) left out.
import test from 'ava'
import { TraceNotes } from '../../src/xio/trace-notes.ts'
import { fitNote } from '../../src/xio/xio.ts'
import { harness } from '../../src/testing/index.ts'
import { builtinNFs } from '../../src/nfs/index.ts'
import { arpFrame, ipv4Frame } from '../../src/testing/frames.ts'

const noted = (h: ReturnType<typeof harness>, frame: Uint8Array, from: number) => {
  const notes = new TraceNotes(h.instance)
  notes.start()
  h.send(frame, { from })
  return notes.finish()
}

test('a NAT: the mapping made for a packet out, used for the reply; an unsolicited one dropped, why', (t) => {
  const h = harness(builtinNFs.nat, { external: '203.0.113.1' }, { gates: { inside: 1, outside: 2 } })
  const first = noted(h, ipv4Frame({ proto: 'udp', src: '10.0.0.2', dst: '198.51.100.9', srcPort: 5000, dstPort: 53 }), 1)
  const port = new DataView(h.out('outside')[0].buffer).getUint16(34)
  // The NAT's explain(), in place of its counters: the mapping it made, then the one it used,
  // by external port (the packet before and after the NAT shows the rest).
  t.is(first, `new map :${port}`)
  t.is(noted(h, ipv4Frame({ proto: 'udp', src: '198.51.100.9', dst: '203.0.113.1', srcPort: 53, dstPort: port }), 2), `map :${port}`)
  t.is(noted(h, ipv4Frame({ proto: 'icmp', src: '10.0.0.3', dst: '198.51.100.9', icmpId: 7 }), 1), `new map id ${new DataView(h.out('outside')[1].buffer).getUint16(38)}`)
  t.is(noted(h, ipv4Frame({ proto: 'udp', src: '198.51.100.7', dst: '203.0.113.1', srcPort: 53, dstPort: 40000 }), 2), 'drop/noMapping')
})

test('a NAT\'s port forward and hairpinning name both mappings; a hairpin that finds none names its source\'s', (t) => {
  const h = harness(builtinNFs.nat, { external: '203.0.113.1', forwards: [{ proto: 'udp', port: 7000, to: '10.0.0.5:7001' }] }, { gates: { inside: 1, outside: 2 } })
  t.is(noted(h, ipv4Frame({ proto: 'udp', src: '198.51.100.9', dst: '203.0.113.1', srcPort: 53, dstPort: 7000 }), 2), 'new forward :7000')
  t.is(noted(h, ipv4Frame({ proto: 'udp', src: '198.51.100.9', dst: '203.0.113.1', srcPort: 53, dstPort: 7000 }), 2), 'forward :7000')
  // An inside host reaching the forward through the external address: its own mapping, then the forward's.
  const hairpin = noted(h, ipv4Frame({ proto: 'udp', src: '10.0.0.2', dst: '203.0.113.1', srcPort: 5000, dstPort: 7000 }), 1)
  t.regex(hairpin, /^hairpin :\d+ to :7000$/)
  const missed = noted(h, ipv4Frame({ proto: 'udp', src: '10.0.0.3', dst: '203.0.113.1', srcPort: 5000, dstPort: 7100 }), 1)
  t.regex(missed, /^drop\/noMapping hairpin :\d+$/)
})

test('a router: the neighbour a packet is held for; an ARP frame by its sender, learnt or answered, and what it released (not the toWire of the packets it released)', (t) => {
  const h = harness(builtinNFs.router, { address: '10.0.0.1/24', mac: '02:00:00:00:01:01' }, { gates: { wire: 1, chain: 2 }, buffers: 64 })
  const toHost = ipv4Frame({ src: '198.51.100.9', dst: '10.0.0.7' })
  t.is(noted(h, toHost, 2), 'held for 10.0.0.7')
  t.is(noted(h, toHost, 2), 'held for 10.0.0.7')
  const reply = arpFrame({ op: 2, srcMac: '02:00:00:00:00:07', dstMac: '02:00:00:00:01:01', senderIp: '10.0.0.7', targetIp: '10.0.0.1' })
  t.is(noted(h, reply, 1), 'learnt 10.0.0.7, sent 2 held')
  t.is(noted(h, reply, 1), 'learnt 10.0.0.7')
  t.is(noted(h, arpFrame({ op: 1, srcMac: '02:00:00:00:00:09', senderIp: '10.0.0.9', targetIp: '10.0.0.1' }), 1), 'answered 10.0.0.9')
  // Forwarded, it has nothing to add to its counters; an ARP frame it cannot learn from neither.
  t.is(noted(h, toHost, 2), 'toWire')
  t.is(noted(h, arpFrame({ op: 1, srcMac: '02:00:00:00:00:0a', senderIp: '10.0.0.10', targetIp: '10.0.0.99' }), 1), 'arp')
})

test('a note too long for its 32 bytes is cut after a whole word, and says so', (t) => {
  t.is(fitNote('fw: default nat: new map :20001'), 'fw: default nat: new map :20001')
  t.is(fitNote('fw: rule 3 nat: drop/noMapping hairpin :20001'), 'fw: rule 3 nat:…')
  t.true(new TextEncoder().encode(fitNote('x'.repeat(40))).length <= 32)
  for (const note of ['a b c d e f g h i j k l m n o p q r s t u v', 'fw: rule 12 nat: new map id 65535 more']) {
    const fitted = fitNote(note)
    t.true(new TextEncoder().encode(fitted).length <= 32, fitted)
    t.true(note.startsWith(fitted.slice(0, -1)), fitted)
  }
})

test('a firewall: the rule that decided, a drop rule as its drop reason, the default policy', (t) => {
  const h = harness(builtinNFs.firewall, { default: 'drop', rules: [{ action: 'allow', proto: 'tcp' }, { action: 'drop', proto: 'udp', dstPort: 53 }] })
  t.is(noted(h, ipv4Frame({ proto: 'tcp' }), 1), 'rule 0')
  t.is(noted(h, ipv4Frame({ proto: 'udp', dstPort: 53 }), 1), 'drop/rule/1')
  t.is(noted(h, ipv4Frame({ proto: 'udp', dstPort: 54 }), 1), 'drop/default')
  t.is(noted(h, ipv4Frame({ proto: 'udp', fragOffset: 185, rawL4: new Uint8Array(16) }), 1), 'drop/fragment')
})

test('an explain() that throws costs the note its words, not the packet', (t) => {
  const h = harness({ gates: ['out'], create: () => ({ process: () => 0, counters: () => ({ seen: 1 }), explain: () => { throw new Error('oops') } }) }, {})
  t.is(noted(h, ipv4Frame({}), 1), '')
  t.is(h.out('out').length, 1)
})

test('an NF without counters notes nothing', (t) => {
  const h = harness({ gates: ['out'], create: () => ({ process: () => 0 }) }, {})
  t.is(noted(h, ipv4Frame({}), 1), '')
})
