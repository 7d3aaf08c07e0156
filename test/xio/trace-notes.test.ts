// What an NF's runner notes for a traced packet: the counters process() moved, drop reasons
// and rule hits first, with the noise (bytes, gauges, caches) left out.
import test from 'ava'
import { TraceNotes } from '../../src/xio/trace-notes.ts'
import { harness } from '../../src/testing/index.ts'
import { builtinNFs } from '../../src/nfs/index.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'

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
  // The NAT's explain(), in place of its counters: the mapping it made, then the one it used.
  t.is(first, `new 10.0.0.2:5000 as :${port}`)
  t.is(noted(h, ipv4Frame({ proto: 'udp', src: '198.51.100.9', dst: '203.0.113.1', srcPort: 53, dstPort: port }), 2), `10.0.0.2:5000 as :${port}`)
  t.is(noted(h, ipv4Frame({ proto: 'icmp', src: '10.0.0.3', dst: '198.51.100.9', icmpId: 7 }), 1), `new 10.0.0.3 id 7 as id ${new DataView(h.out('outside')[1].buffer).getUint16(38)}`)
  t.is(noted(h, ipv4Frame({ proto: 'udp', src: '198.51.100.7', dst: '203.0.113.1', srcPort: 53, dstPort: 40000 }), 2), 'drop/noMapping')
})

test('a firewall: the rule that decided, a drop rule as its drop reason, the default policy', (t) => {
  const h = harness(builtinNFs.firewall, { default: 'drop', rules: [{ action: 'allow', proto: 'tcp' }, { action: 'drop', proto: 'udp', dstPort: 53 }] })
  t.is(noted(h, ipv4Frame({ proto: 'tcp' }), 1), 'rule 0')
  t.is(noted(h, ipv4Frame({ proto: 'udp', dstPort: 53 }), 1), 'drop/rule/1')
  t.is(noted(h, ipv4Frame({ proto: 'udp', dstPort: 54 }), 1), 'drop/default')
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
