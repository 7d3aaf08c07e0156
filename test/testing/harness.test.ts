// The NF test harness (`xio-chain/testing`) on the built-in NFs: frames in, what left each
// gate out, the clock in the test's hands; then, on NFs made to misbehave, what it catches.
import test from 'ava'
import { join } from 'node:path'
import { harness, MARKER } from '../../src/testing/index.ts'
import nat from '../../src/nfs/nat/index.ts'
import firewall from '../../src/nfs/firewall/index.ts'
import router from '../../src/nfs/router/index.ts'
import { CONSUMED, defineNF, DROP, HOLD, NFConfigError, type NFEnv, type Packet } from '../../src/xio/nf-types.ts'
import { Headers, parse, formatIpv4, ARP_OPER, ARP_REQUEST, get16 } from '../../src/packet/index.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'
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
  t.is(h.counters()['drop/noMapping'], 1)
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

test('a bad config is refused as validate would, naming the field: the schema first, then create()', (t) => {
  const e = t.throws(() => harness(nat, { external: '203.0.113.1', ports: [3000, 2000] } as never), { instanceOf: NFConfigError })
  t.regex(e!.message, /^\/ports/)
  // What only the NF's schema says (create() alone would take it), as `validate` says it.
  const guard = defineNF<{ minTtl: number }>({
    gates: ['out'],
    config: { type: 'object', required: ['minTtl'], properties: { minTtl: { type: 'integer', minimum: 1, maximum: 255 } } },
    create: () => ({ process: () => 0 }),
  })
  const tooBig = t.throws(() => harness(guard, { minTtl: 300 }), { instanceOf: NFConfigError })
  t.is(tooBig!.message, '/minTtl: must be <= 255')
  t.is(t.throws(() => harness(guard, {} as never), { instanceOf: NFConfigError })!.path, '/minTtl')
  t.notThrows(() => harness(guard, { minTtl: 300 }, { schema: false }))
})

// ---- strictness: what the harness catches in an NF of one's own ----

/**
 * An NF whose process() is the test's, and whose env the test keeps, to call env.packets as a
 * (possibly buggy) NF would.
 */
function probe(process: (p: Packet, env: NFEnv) => number, gates: readonly string[] = ['out', 'other']) {
  let env!: NFEnv
  const nf = defineNF<Record<string, never>>({
    name: 'probe',
    gates,
    create: (_config, e) => {
      env = e
      return { process: (p) => process(p, env) }
    },
  })
  return { nf, env: () => env, packets: () => env.packets! }
}

const frame = (length: number, fill = 0x11) => new Uint8Array(length).fill(fill)

test('buffers as the region lays them out: 128 bytes of headroom before the frame, the marker all around it', (t) => {
  const seen: number[][] = []
  const { nf } = probe((p) => {
    seen.push([...p.bytes.subarray(p.at - 128, p.at)], [...p.bytes.subarray(p.at + p.length, p.at + 1856)])
    return 0
  })
  const h = harness(nf, {})
  h.send(frame(1000))
  // A shorter frame in the same buffer: what the longer one left past it is the marker again.
  h.send(frame(60))
  t.true(seen.every((bytes) => bytes.every((b) => b === MARKER)))
  t.is(seen[0].length, 128)
  t.is(seen[3].length, 1856 - 60)
  // Reading past a buffer's capacity meets the marker too, even past the last buffer.
  const last = harness(nf, {}, { buffers: 1 })
  const out = last.send(frame(1856))
  t.is(last.bytes[last.offset(out.d) + 1856], MARKER)
  t.throws(() => last.send(frame(1857)), { instanceOf: RangeError, message: /1857-byte frame does not fit a 1856-byte buffer/ })
})

test('alloc(): a buffer full of the marker, freed buffers reused last-in first-out', (t) => {
  const { nf, packets } = probe(() => 0)
  const h = harness(nf, {})
  const d = h.send(frame(60)).d
  const p = packets().alloc()!
  t.is(p.d, d, 'the buffer the last packet left is the next one used')
  t.is(p.length, 0)
  t.is(p.at, h.offset(d))
  t.true(p.bytes.subarray(p.at, p.at + 1856).every((b) => b === MARKER), 'not what the last packet left there')
  t.is(h.held, 1)
  packets().drop(p.d)
  t.is(h.held, 0)
  t.is(h.send(frame(60)).d, d)
})

test('copy(): a fresh buffer with the packet\'s bytes and length, where it came in and its flow hash, the original untouched', (t) => {
  let copy: Packet | null = null
  const { nf, packets } = probe((p) => {
    copy = packets().copy(p)
    return 0
  })
  const h = harness(nf, {})
  const f = frame(60)
  const out = h.send(f, { from: 5, inPort: 7, flowHash: 0xabcd })
  const c = copy!
  t.not(c.d, out.d)
  t.like(c, { length: 60, inPort: 7, flowHash: 0xabcd })
  t.deepEqual(c.bytes.slice(c.at, c.at + c.length), f)
  t.deepEqual(out.frame, f)
  t.is(h.held, 1, 'the copy is the NF\'s until it sends or drops it')
  packets().send(c.d, 1, c.length)
  t.deepEqual(h.packets.sent.at(-1), { gate: 'other', frame: f })
})

test('one Packet object for every frame, as the runner: an NF that keeps it sees the next packet', (t) => {
  const kept: Packet[] = []
  const { nf } = probe((p) => (kept.push(p), 0))
  const h = harness(nf, {})
  h.send(frame(60), { from: 5 })
  h.send(frame(70), { from: 6 })
  t.is(kept[0], kept[1])
  t.is(kept[0].length, 70)
  t.is(kept[0].from, 6)
})

test('a packet the NF forgot it gave back is overwritten by the very next one', (t) => {
  let first = -1
  const { nf } = probe((p) => {
    if (first < 0) first = p.at
    // The bug: the first packet's bytes read again after returning its verdict.
    return p.bytes[first] === 0x11 ? 0 : 1
  })
  const h = harness(nf, {})
  t.is(h.send(frame(60, 0x11)).verdict, 'out')
  t.is(h.send(frame(60, 0x22)).verdict, 'other')
})

test('env.packets.send/drop of a descriptor not the NF\'s throws, naming it', (t) => {
  const { nf, packets } = probe(() => 0)
  const h = harness(nf, {})
  t.throws(() => packets().send(3, 0, 60), { message: /env\.packets\.send\(3, 0, 60\): descriptor 3 is not probe's \(never given to it or allocated, or already sent or dropped\)/ })
  t.throws(() => packets().drop(-1), { message: /descriptor -1 is not probe's/ })
  t.throws(() => packets().drop(1.5), { message: /descriptor 1\.5 is not probe's/ })
  // One that left by process()'s verdict is no longer the NF's either.
  const d = h.send(frame(60)).d
  t.throws(() => packets().drop(d), { message: new RegExp(`descriptor ${d} is not`) })
  const p = packets().alloc()!
  packets().send(p.d, 1, 20)
  t.throws(() => packets().send(p.d, 1, 20), { message: /already sent or dropped/ })
  t.throws(() => packets().drop(p.d), { message: /already sent or dropped/ })
  // A gate that is none, and a length past the buffer.
  const q = packets().alloc()!
  t.throws(() => packets().send(q.d, 2, 20), { instanceOf: RangeError, message: /2 is not a gate \(0 out, 1 other\)/ })
  t.throws(() => packets().send(q.d, 0, 1857), { instanceOf: RangeError, message: /length of 1857 does not fit/ })
  t.is(h.held, 1, 'refused, it is still the NF\'s')
  t.deepEqual(h.packets.sent, [{ gate: 'other', frame: new Uint8Array(20).fill(MARKER) }])
  t.is(h.sent.length, 2)
})

test('process() returning a gate or DROP for a packet it sent or dropped itself throws; HOLD is the answer for those', (t) => {
  let mode = 'send'
  const { nf, packets } = probe((p) => {
    if (mode === 'send') packets().send(p.d, 1, p.length)
    else packets().drop(p.d)
    return mode === 'hold' ? HOLD : mode === 'drop' ? DROP : 0
  })
  const h = harness(nf, {})
  t.throws(() => h.send(frame(60)), { message: /process\(\) returned gate 0 for descriptor \d+, which it had already sent or dropped through env\.packets/ })
  mode = 'drop'
  t.throws(() => h.send(frame(60)), { message: /process\(\) returned DROP for descriptor/ })
  mode = 'hold'
  const out = h.send(frame(60))
  t.is(out.verdict, 'held')
  t.is(h.held, 0)
  t.is(h.packets.sent.length, 1)
  t.is(h.packets.dropped.length, 2)
  t.deepEqual(h.packets.dropped[1], frame(60), 'dropped as it was, at its length then')
})

test('a verdict that is no gate, DROP, HOLD or CONSUMED throws, and the harness goes on', (t) => {
  let verdict: unknown
  const { nf } = probe(() => verdict as number)
  const h = harness(nf, {})
  for (const v of [undefined, Number.NaN, -4, 1.5, 2, '0', null]) {
    verdict = v
    t.throws(() => h.send(frame(60)), { instanceOf: RangeError, message: /^process\(\) returned .*: a verdict is a gate \(0 out, 1 other\), DROP \(-1\), HOLD \(-2\) or CONSUMED \(-3\)$/ }, String(v))
  }
  t.is(h.held, 0, 'each refused packet is given back')
  verdict = 1
  t.is(h.send(frame(60)).verdict, 'other')
  verdict = CONSUMED
  t.is(h.send(frame(60)).verdict, 'consumed')
  t.is(h.held, 0, 'a consumed packet is given back')
  t.is(h.dropped.length, 0, 'and is no drop')
})

test('a length set past the buffer, or not a length, throws', (t) => {
  let length = 0
  const { nf } = probe((p) => ((p.length = length), 0))
  const h = harness(nf, {}, { capacity: 100 })
  for (const bad of [101, -1, 2.5, Number.NaN]) {
    length = bad
    t.throws(() => h.send(frame(60)), { instanceOf: RangeError, message: /^process\(\): a packet length of .* does not fit a 100-byte buffer$/ })
  }
  length = 100
  t.is(h.send(frame(60)).frame.length, 100, 'grown into the buffer: the marker after the frame')
  t.is(h.held, 0)
})

test('process() throwing: the error comes out, the buffer back in the pool', (t) => {
  const { nf } = probe(() => {
    throw new Error('oops')
  })
  const h = harness(nf, {}, { buffers: 1 })
  t.throws(() => h.send(frame(60)), { message: 'oops' })
  t.throws(() => h.send(frame(60)), { message: 'oops' }, 'the one buffer is free again')
  t.is(h.held, 0)
})

test('held packets: counted until the NF lets go of them; a full pool says so', (t) => {
  const { nf, packets } = probe((p) => (p.length === 60 ? HOLD : (packets().drop(0), packets().send(1, 1, 33), 0)))
  const h = harness(nf, {}, { buffers: 3 })
  t.is(h.send(frame(60, 1)).verdict, 'held')
  t.is(h.send(frame(60, 2)).verdict, 'held')
  t.is(h.held, 2)
  t.is(h.send(frame(61)).verdict, 'out')
  t.is(h.held, 0)
  t.deepEqual(h.packets.dropped, [frame(60, 1)])
  t.deepEqual(h.packets.sent, [{ gate: 'other', frame: frame(33, 2) }])
  t.deepEqual(h.sent.map((s) => s.gate), ['other', 'out'])
  const leaky = harness(probe(() => HOLD).nf, {}, { buffers: 2 })
  leaky.send(frame(60))
  leaky.send(frame(60))
  t.throws(() => leaky.send(frame(60)), { message: /all 2 buffers are probe's: held or allocated and never sent or dropped/ })
})

test('an outcome carries the flow hash the NF set and its descriptor, and still deep-equals { verdict, frame }', (t) => {
  const { nf } = probe((p) => ((p.flowHash = p.flowHash * 2 + 1), 0))
  const h = harness(nf, {})
  const f = frame(60)
  const out = h.send(f, { flowHash: 20 })
  t.is(out.flowHash, 41)
  t.deepEqual(h.bytes.slice(h.offset(out.d), h.offset(out.d) + f.length), f, 'the buffer it was in, around its frame')
  t.deepEqual(out, { verdict: 'out', frame: f })
})

test('options: gates and endpoints by name, a gate wired later, the clock and its ticks, no env.packets', (t) => {
  const from: number[][] = []
  const ticks: number[] = []
  let env!: NFEnv
  const nf = defineNF<Record<string, never>>({
    gates: ['out', 'back'],
    create: (_c, e) => {
      env = e
      return { process: (p) => (from.push([p.from, p.inPort]), 0), tick: (now) => void ticks.push(now) }
    },
  })
  t.throws(() => harness(nf, {}, { gates: { ot: 1 } }), { message: /options\.gates names "ot": the NF has gates out, back/ })
  const h = harness(nf, {}, { gates: { back: 7 }, endpoints: { lan: 3 }, now: 1000, tickMs: 250 })
  t.is(env.gateTarget('out'), 100)
  t.is(env.gateTarget('back'), 7)
  t.is(env.endpointId('lan'), 3)
  t.is(env.endpointId('nowhere'), -1)
  h.send(frame(60), { from: 'back', inPort: 'lan' })
  h.send(frame(60), { from: 9 })
  t.deepEqual(from, [[7, 3], [9, 9]])
  t.throws(() => h.send(frame(60), { from: 'wan' }), { message: /from: "wan" is neither a gate of the NF nor one of options\.endpoints/ })
  h.route('out', 4)
  t.is(env.gateTarget('out'), 4)
  t.throws(() => h.route('nope', 1), { message: /route\("nope"\): the NF has gates out, back/ })
  h.advance(600)
  t.deepEqual(ticks, [1250, 1500])
  t.is(h.now, 1600)
  t.throws(() => h.advance(-1), { instanceOf: RangeError })
  t.is(env.packets === undefined, false)
  harness(nf, {}, { packets: false })
  t.is(env.packets, undefined, 'built as validate builds it')
})
