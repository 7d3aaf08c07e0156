// examples/dns-log: a DNS query logger of one's own. Through the harness: what it counts (per
// name, per type, responses apart, malformed messages by reason) while passing every packet on
// unchanged; the question reader against random names and random bytes; the bounded name table
// against exact counts; what it publishes against the region's limits and the dashboard. Then
// the bundled chain through the real CLI, and the capture's names as tshark reads them.
import test from 'ava'
import fc from 'fast-check'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { harness } from '../../src/testing/index.ts'
import { readPcap } from '../../src/chain/pcap.ts'
import { layout } from '../../src/xio/native.ts'
import { COUNTER_NAME_BYTES } from '../../src/xio/nf-types.ts'
import { RegionView } from '../../src/xio/region-view.ts'
import { nfLines } from '../../src/tui/panels/nfs.tsx'
import dnsLog, {
  BAD_LABEL, BAD_POINTER, COUNTER_NAME_LENGTH, MAX_NAME, MAX_TOP_NAMES, NameCounts, nameText, OK, QuestionReader,
  REGION_COUNTERS, TOO_LONG, TRUNCATED,
} from './dns-log.ts'
import {
  dnsMessage, lengthPrefixed, tcp4, TYPE_A, TYPE_AAAA, TYPE_MX, TYPE_TXT, udp4, udp6, wireName,
} from './frames.ts'
import { root, tsharkFields, xioChain } from '../../test/helpers/cli.ts'
import { scratchDir } from '../../test/helpers/scratch.ts'

const CLIENT = '10.0.0.2'
const RESOLVER = '10.0.0.53'

function query(name: string, qtype = TYPE_A, id = 1): Uint8Array {
  return udp4(CLIENT, RESOLVER, 40000, 53, dnsMessage({ id, name, qtype }))
}

/** A UDP datagram to port 53 carrying these bytes, DNS or not. */
function toPort53(payload: ArrayLike<number>): Uint8Array {
  return udp4(CLIENT, RESOLVER, 40000, 53, Uint8Array.from(payload))
}

const HEADER = [0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]

/** Sends each frame, checking that it leaves by 'out' exactly as it came. */
function sendAll(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, h: ReturnType<typeof harness>, frames: Uint8Array[]): void {
  for (const f of frames) t.deepEqual(h.send(f), { verdict: 'out', frame: f })
}

test('A and AAAA queries over UDP and IPv4 are counted per name and per type, and passed on unchanged', (t) => {
  const h = harness(dnsLog, {})
  sendAll(t, h, [query('www.example.com'), query('www.example.com', TYPE_AAAA), query('api.example.net'), query('www.example.com')])
  t.deepEqual(h.counters(), {
    queries: 4, responses: 0, malformed: 0, namesTracked: 2, namesEvicted: 0,
    'qtype/A': 3, 'qtype/AAAA': 1,
    'names/www.example.com': 3, 'names/api.example.net': 1,
  })
})

test('queries over IPv6, and over TCP behind their length (two in one segment), count as over IPv4', (t) => {
  const h = harness(dnsLog, {})
  const two = Uint8Array.from([...lengthPrefixed(dnsMessage({ id: 1, name: 'example.com', qtype: TYPE_TXT })), ...lengthPrefixed(dnsMessage({ id: 2, name: 'example.org', qtype: TYPE_MX }))])
  sendAll(t, h, [
    udp6('2001:db8::10', '2001:db8::53', 40000, 53, dnsMessage({ id: 1, name: 'www.example.com', qtype: TYPE_AAAA })),
    tcp4(CLIENT, RESOLVER, 41000, 53, lengthPrefixed(dnsMessage({ id: 3, name: 'example.com', qtype: TYPE_A }))),
    tcp4(CLIENT, RESOLVER, 41001, 53, two),
    // A handshake segment carries nothing to read.
    tcp4(CLIENT, RESOLVER, 41002, 53, new Uint8Array(0), { tcpFlags: 0x02 }),
  ])
  const c = h.counters()
  t.is(c.queries, 4)
  t.like(c, { 'names/www.example.com': 1, 'names/example.com': 2, 'names/example.org': 1, 'qtype/AAAA': 1, 'qtype/TXT': 1, 'qtype/MX': 1, 'qtype/A': 1 })
  t.false('tcpPartial' in c)
})

test('names are compared as DNS compares them: WWW.Example.COM is www.example.com', (t) => {
  const h = harness(dnsLog, {})
  sendAll(t, h, [query('WWW.Example.COM'), query('www.example.com'), query('wWw.ExAmPlE.cOm')])
  t.like(h.counters(), { queries: 3, namesTracked: 1, 'names/www.example.com': 3 })
})

test('responses are counted apart and never as queries, whichever way they go', (t) => {
  const h = harness(dnsLog, {})
  sendAll(t, h, [
    query('www.example.com'),
    udp4(RESOLVER, CLIENT, 53, 40000, dnsMessage({ id: 1, name: 'www.example.com', qtype: TYPE_A, response: true })),
    udp6('2001:db8::53', '2001:db8::10', 53, 40000, dnsMessage({ id: 2, name: 'api.example.net', qtype: TYPE_AAAA, response: true })),
    tcp4(RESOLVER, CLIENT, 53, 41000, lengthPrefixed(dnsMessage({ id: 3, name: 'example.com', qtype: TYPE_TXT, response: true }))),
  ])
  t.like(h.counters(), { queries: 1, responses: 3, namesTracked: 1, 'names/www.example.com': 1 })
  t.false('names/api.example.net' in h.counters())
})

// Each message with what is wrong in it, and the reason it is counted under.
const malformedCases: Array<[string, number[], string]> = [
  ['six bytes: no whole header', [0x12, 0x34, 0x01, 0x00, 0x00, 0x01], 'header'],
  ['the name ends mid-label', [...HEADER, 7, ...Array.from('exam', (c) => c.charCodeAt(0))], 'truncated'],
  ['the name never ends', [...HEADER, 3, 0x77, 0x77, 0x77], 'truncated'],
  ['no QTYPE and QCLASS after the name', [...HEADER, ...wireName('example.com'), 0], 'truncated'],
  ['a pointer cut in half', [...HEADER, 3, 0x77, 0x77, 0x77, 0xc0], 'truncated'],
  ['an extended label type (0x41)', [...HEADER, 0x41, 0x01, 0, 0, 1, 0, 1], 'label'],
  ['a reserved label type (0x80)', [...HEADER, 0x80, 0, 0, 1, 0, 1], 'label'],
  ['five labels of 63 bytes: 321 bytes of name', [...HEADER, ...Array(5).fill([63, ...Array(63).fill(0x61)]).flat(), 0, 0, 1, 0, 1], 'tooLong'],
  ['a pointer to itself', [...HEADER, 0xc0, 12, 0, 1, 0, 1], 'pointer'],
  ['a pointer after a label, back to that label (a loop)', [...HEADER, 1, 0x61, 0xc0, 12, 0, 1, 0, 1], 'pointer'],
  ['a pointer into the header', [...HEADER, 0xc0, 2, 0, 1, 0, 1], 'pointer'],
  ['a pointer forward', [...HEADER, 0xc0, 20, 0, 1, 0, 1, 0, 0, 3, 0x61, 0x62, 0x63, 0], 'pointer'],
  ['a pointer past the end', [...HEADER, 0xff, 0xff, 0, 1, 0, 1], 'pointer'],
]

for (const [what, message, reason] of malformedCases) {
  test(`malformed: ${what} is counted as malformed/${reason}, and passed on`, (t) => {
    const h = harness(dnsLog, {})
    sendAll(t, h, [toPort53(message), query('www.example.com')])
    const c = h.counters()
    t.like(c, { queries: 1, malformed: 1, [`malformed/${reason}`]: 1, namesTracked: 1 })
    t.is(Object.keys(c).filter((k) => k.startsWith('malformed/')).length, 1)
  })
}

test('a compression pointer back to an earlier name is followed (the reader is general; a first question has none)', (t) => {
  // "www" then a pointer to "example.com" at offset 12.
  const message = Uint8Array.from([...HEADER, ...wireName('Example.COM'), 3, 0x77, 0x77, 0x77, 0xc0, 12, 0, 28, 0, 1])
  const r = new QuestionReader()
  t.is(r.read(new DataView(message.buffer), 0, 12 + 13, message.length), OK)
  t.is(nameText(r.name, 0), 'www.example.com')
  t.is(r.length, 17)
  t.is(r.qtype, TYPE_AAAA)
})

test('other opcodes, queries without a question, TCP segments that do not start a whole message, and other ports', (t) => {
  const h = harness(dnsLog, {})
  const whole = lengthPrefixed(dnsMessage({ id: 1, name: 'example.com', qtype: TYPE_A }))
  sendAll(t, h, [
    toPort53([...HEADER.slice(0, 2), 0x28, 0x00, ...HEADER.slice(4)]), // opcode 5 (UPDATE)
    toPort53([...HEADER.slice(0, 4), 0, 0, ...HEADER.slice(6)]), // QDCOUNT 0
    tcp4(CLIENT, RESOLVER, 41000, 53, whole.subarray(0, 20)), // the rest is in the next segment
    tcp4(CLIENT, RESOLVER, 41000, 53, Uint8Array.from([...whole, 0])), // a whole message, then one byte of the next
    udp4(CLIENT, RESOLVER, 40000, 5353, dnsMessage({ id: 1, name: 'printer.local', qtype: TYPE_A })),
  ])
  t.deepEqual(h.counters(), {
    queries: 1, responses: 0, malformed: 0, otherOpcode: 1, noQuestion: 1, tcpPartial: 2, namesTracked: 1, namesEvicted: 0,
    'qtype/A': 1, 'names/example.com': 1,
  })
})

test('port: another port (mDNS on 5353) is read instead of 53', (t) => {
  const h = harness(dnsLog, { port: 5353 })
  sendAll(t, h, [udp4(CLIENT, '224.0.0.251', 5353, 5353, dnsMessage({ id: 0, name: 'printer.local', qtype: TYPE_A })), query('www.example.com')])
  t.like(h.counters(), { queries: 1, 'names/printer.local': 1 })
})

test('qtypes and suffix: only the names of queries they let in are counted, the rest count as filtered', (t) => {
  const h = harness(dnsLog, { qtypes: ['AAAA', 16], suffix: 'Example.com.' })
  sendAll(t, h, [
    query('www.example.com', TYPE_AAAA),
    query('example.com', TYPE_TXT),
    query('www.example.com', TYPE_A), // type not let in
    query('www.badexample.com', TYPE_AAAA), // not under example.com: a label must start there
    query('www.example.net', TYPE_AAAA),
  ])
  t.deepEqual(h.counters(), {
    queries: 5, responses: 0, malformed: 0, filtered: 3, namesTracked: 2, namesEvicted: 0,
    'qtype/A': 1, 'qtype/TXT': 1, 'qtype/AAAA': 3,
    'names/example.com': 1, 'names/www.example.com': 1,
  })
})

test('config mistakes a schema cannot see are refused naming the field', (t) => {
  const bad = (config: object) => t.throws(() => harness(dnsLog, config)) as Error & { path: string }
  t.like(bad({ suffix: 'a..b' }), { name: 'NFConfigError', path: '/suffix' })
  t.like(bad({ suffix: 'x'.repeat(64) + '.com' }), { name: 'NFConfigError', path: '/suffix' })
  t.like(bad({ qtypes: ['A', 'BOGUS'] }), { name: 'NFConfigError', path: '/qtypes/1' })
})

test('the chain\'s validator checks a config against the module\'s schema', async (t) => {
  const dir = scratchDir('dns-log')
  const spec = join(dir, 'bad.json')
  writeFileSync(spec, JSON.stringify({
    endpoints: {
      in: { kind: 'pcap', input: join(root, 'examples/dns-log/dns.pcap') },
      dns: { kind: 'nf', module: join(root, 'examples/dns-log/dns-log.ts'), config: { maxNames: 0, topNames: MAX_TOP_NAMES + 1, colour: 'red' } },
      out: { kind: 'pcap' },
    },
    links: ['in -> dns', 'dns -> out'],
  }))
  const r = await xioChain(['validate', spec])
  t.is(r.code, 1)
  t.deepEqual(r.stderr.trim().split('\n').sort(), [
    `${spec}: /endpoints/dns/config/colour: unknown field 'colour'`,
    `${spec}: /endpoints/dns/config/maxNames: must be >= 1`,
    `${spec}: /endpoints/dns/config/topNames: must be <= ${MAX_TOP_NAMES}`,
  ])
})

// ---- The question reader ------------------------------------------------------------------

const lower = (b: number) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b)
const label = fc.uint8Array({ minLength: 1, maxLength: 63 })
/** Label sequences that fit a name: 255 bytes in wire form at most. */
const labelsThatFit = fc.array(label, { maxLength: 12 }).map((labels) => {
  const kept: Uint8Array[] = []
  let size = 1
  for (const l of labels) if ((size += l.length + 1) <= MAX_NAME) kept.push(l)
  return kept
})
const wire = (labels: Uint8Array[]) => [...labels.flatMap((l) => [l.length, ...l]), 0]

/** The bytes alone in an ArrayBuffer of their own: a read past the end throws RangeError. */
const viewOfExactly = (bytes: ArrayLike<number>) => new DataView(Uint8Array.from(bytes).buffer)

test('random label sequences read back as written, lowercased, whether or not a pointer splits them (property)', (t) => {
  const r = new QuestionReader(7)
  fc.assert(fc.property(labelsThatFit, fc.nat(), fc.nat(0xffff), (labels, split, qtype) => {
    const k = split % (labels.length + 1)
    const name = wire(labels)
    // Plain: the question's name right after the header.
    const plain = [...HEADER, ...name, qtype >> 8, qtype & 0xff, 0, 1]
    t.is(r.read(viewOfExactly(plain), 0, 12, plain.length), OK)
    t.deepEqual([...r.name.subarray(0, r.length)], name.map(lower))
    t.is(r.qtype, qtype)
    t.is(r.labels, labels.length)
    const plainHash = r.hash
    // Compressed: the labels after k are an earlier name at 12, the question points back to it.
    const earlier = wire(labels.slice(k))
    const compressed = [...HEADER, ...earlier, ...wire(labels.slice(0, k)).slice(0, -1), 0xc0, 12, qtype >> 8, qtype & 0xff, 0, 1]
    t.is(r.read(viewOfExactly(compressed), 0, 12 + earlier.length, compressed.length), OK)
    t.deepEqual([...r.name.subarray(0, r.length)], name.map(lower))
    t.is(r.hash, plainHash)
  }), { numRuns: 2000 })
})

test('arbitrary bytes never make the reader throw nor read past the message; what it accepts is a well-formed name (property)', (t) => {
  const r = new QuestionReader()
  const results = new Set([OK, TRUNCATED, BAD_LABEL, TOO_LONG, BAD_POINTER])
  const check = (bytes: ArrayLike<number>, q: number) => {
    const result = r.read(viewOfExactly(bytes), 0, q, bytes.length)
    t.true(results.has(result))
    if (result !== OK) return
    t.true(r.length <= MAX_NAME)
    let i = 0
    while (r.name[i] !== 0) {
      t.true(r.name[i] <= 63)
      i += 1 + r.name[i]
    }
    t.is(i + 1, r.length)
  }
  // Random bytes, the question anywhere from the end of the header on.
  fc.assert(fc.property(fc.uint8Array({ minLength: 12, maxLength: 300 }), fc.nat(), (bytes, q) => check(bytes, 12 + (q % (bytes.length - 11)))), { numRuns: 3000 })
  // Valid questions with bytes overwritten and the end cut: near misses, pointers included.
  fc.assert(fc.property(labelsThatFit, fc.array(fc.tuple(fc.nat(), fc.constantFrom(0, 0x3f, 0x40, 0xc0, 0xc0 | 12, 12, 255, 63)), { maxLength: 4 }), fc.nat(), (labels, flips, cut) => {
    const m = [...HEADER, ...wire(labels), 0, 1, 0, 1]
    for (const [i, v] of flips) m[12 + (i % (m.length - 12))] = v
    check(m.slice(0, 12 + (cut % (m.length - 11))), 12)
  }), { numRuns: 3000 })
})

test('the NF puts every datagram to port 53 in exactly one count, whatever its bytes, and passes it on (property)', (t) => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { minLength: 1, maxLength: 20 }), (payloads) => {
    const h = harness(dnsLog, {})
    for (const random of payloads) {
      const p = random.slice()
      // Some look like queries: a QR-clear header with one question.
      if (p.length >= 6 && p[0] & 1) p.set([p[2] & 0x07, 0, 0, 1], 2)
      t.is(h.send(toPort53(p)).verdict, 'out')
    }
    const c = h.counters()
    t.is(c.queries + c.responses + c.malformed + (c.noQuestion ?? 0) + (c.otherOpcode ?? 0), payloads.length)
  }), { numRuns: 300 })
})

// ---- The name table -----------------------------------------------------------------------

function tableProperty(t: { true: (v: boolean, m?: string) => void; is: (a: unknown, b: unknown, m?: string) => void }, hashOf: (id: number) => number) {
  fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.array(fc.nat(30), { maxLength: 300 }), (capacity, stream) => {
    const table = new NameCounts(capacity)
    const exact = new Map<string, number>()
    for (const id of stream) {
      const name = Uint8Array.from(wireName(`n${id}.example`))
      table.add(name, name.length, hashOf(id))
      exact.set(`n${id}.example`, (exact.get(`n${id}.example`) ?? 0) + 1)
    }
    const held = new Map(table.top(capacity))
    t.is(table.size, Math.min(capacity, exact.size))
    t.is(held.size, table.size)
    if (exact.size <= capacity) {
      t.is(table.evictions, 0)
      for (const [name, count] of exact) t.is(held.get(name), count, name)
    }
    for (const [name, count] of held) t.true(count >= 1 && count <= exact.get(name)!, `${name} counted ${count} of ${exact.get(name)}`)
    // Space-Saving: whatever is queried more than total/capacity times is held.
    for (const [name, count] of exact) if (count > stream.length / capacity) t.true(held.has(name), `${name}, ${count} of ${stream.length}, not held`)
    const counts = [...held.values()]
    t.true(counts.every((c, i) => i === 0 || counts[i - 1] >= c), 'top() most first')
  }), { numRuns: 500 })
}

test('the name table: exact while names fit, never over a name\'s true count, and heavy names always held (property)', (t) => {
  tableProperty(t, (id) => Math.imul(id + 1, 0x9e3779b1))
})

test('the name table stays right when every name lands in one of four buckets (probing and removal, property)', (t) => {
  tableProperty(t, (id) => id & 3)
})

test('a full table: a new name takes the least-counted name\'s place and is counted from there', (t) => {
  const h = harness(dnsLog, { maxNames: 2 })
  for (let i = 0; i < 5; i++) h.send(query('heavy.example'))
  h.send(query('light.example'))
  h.send(query('new.example')) // pushes light.example out
  h.send(query('new.example'))
  t.like(h.counters(), { namesTracked: 2, namesEvicted: 1, 'names/heavy.example': 5, 'names/new.example': 2 })
  t.false('names/light.example' in h.counters())
})

// ---- What it publishes --------------------------------------------------------------------

/** An NF that has seen every kind of counter there is, and more names than it may publish. */
function busyLogger() {
  const h = harness(dnsLog, { maxNames: 4096, topNames: MAX_TOP_NAMES })
  for (const [, message] of malformedCases) h.send(toPort53(message))
  h.send(toPort53([...HEADER.slice(0, 2), 0x28, 0x00, ...HEADER.slice(4)]))
  h.send(toPort53([...HEADER.slice(0, 4), 0, 0, ...HEADER.slice(6)]))
  h.send(tcp4(CLIENT, RESOLVER, 41000, 53, Uint8Array.of(0, 40, 1)))
  h.send(udp4(RESOLVER, CLIENT, 53, 40000, dnsMessage({ id: 1, name: 'x', qtype: 1, response: true })))
  for (const qtype of [1, 2, 5, 6, 12, 15, 16, 28, 33, 35, 43, 48, 64, 65, 255, 257, 99]) h.send(query('types.example', qtype))
  for (let i = 0; i < 300; i++) {
    // Names short and long (up to 237 bytes, all ending differently), queried 1 to 7 times.
    const name = 'sub.'.repeat(i % 55) + `h${i}.example.net`
    for (let n = 0; n <= i % 7; n++) h.send(query(name, TYPE_A, i))
  }
  const ctl = harness(dnsLog, { qtypes: ['MX'] })
  ctl.send(query('www.example.com'))
  return { h, filtered: ctl.counters().filtered }
}

test('what it publishes fits the region: at most 128 counters, names of at most 23 bytes, all distinct', (t) => {
  t.is(REGION_COUNTERS, layout.nfCounters.max)
  t.is(COUNTER_NAME_LENGTH, 23)
  t.true(COUNTER_NAME_LENGTH <= COUNTER_NAME_BYTES, 'shown whole, alone or in a placement group')
  t.is(COUNTER_NAME_BYTES + '@/'.length + 31, layout.nfCounters.nameLength - 1, 'the region keeps a group member\'s longest name behind its @<endpoint>/')
  const { h, filtered } = busyLogger()
  t.is(filtered, 1)
  const c = h.counters()
  const keys = Object.keys(c)
  // Every counter but 'filtered' (which this logger has no filter for) is there.
  t.is(keys.length, REGION_COUNTERS - 1)
  t.true(keys.every((k) => Buffer.byteLength(k) <= COUNTER_NAME_LENGTH && /^[\x21-\x7e]+$/.test(k)), keys.filter((k) => k.length > 23).join())
  const names = keys.filter((k) => k.startsWith('names/'))
  t.is(names.length, MAX_TOP_NAMES)
  t.true(names.some((k) => k.startsWith('names/~')), 'long names shortened')
  t.true(names.every((k, i) => i === 0 || c[names[i - 1]] >= c[k]), 'most counted first')
})

test('what it publishes reads back from the region as it was, in its order (what the dashboard sees)', (t) => {
  const c = busyLogger().h.counters()
  // A region of zeros but for where slots start: slot 0's counters at their offsets past it.
  const region = new ArrayBuffer(1 << 20)
  new BigUint64Array(region)[layout.header.slotsOffset / 8] = 4096n
  const view = new RegionView('test', region)
  view.publishNfCounters(0, c)
  t.deepEqual(Object.entries(view.nfCounters(0)), Object.entries(c))
})

test('a long name is shown by its right end behind ~, and names shortened alike add up', (t) => {
  const h = harness(dnsLog, {})
  sendAll(t, h, [
    query('a.shard.cdn.example.net'), query('b.shard.cdn.example.net'), query('b.shard.cdn.example.net'),
    query('abcdefghijklmnopq'), query('abcdefghijklmnopqr'),
  ])
  const c = h.counters()
  t.is(c['names/~.cdn.example.net'], 3)
  t.is(c['names/abcdefghijklmnopq'], 1) // 17 characters: as it is
  t.is(c['names/~cdefghijklmnopqr'], 1)
  t.is(c.namesTracked, 4)
})

test('unusual bytes in a name are shown escaped, never raw', (t) => {
  const h = harness(dnsLog, {})
  h.send(toPort53([...HEADER, 3, 0x61, 0x2e, 0x01, 2, 0x5c, 0x20, 0, 0, 1, 0, 1]))
  h.send(toPort53([...HEADER, 0, 0, 2, 0, 1]))
  const names = Object.keys(h.counters()).filter((k) => k.startsWith('names/'))
  t.deepEqual(names.sort(), ['names/.', 'names/a\\.\\001.\\\\\\032'])
})

test('the dashboard lists the names by count after the totals', (t) => {
  const h = harness(dnsLog, {})
  for (const [name, n] of [['www.example.com', 3], ['api.example.net', 5], ['mail.example.org', 1]] as const) for (let i = 0; i < n; i++) h.send(query(name))
  const lines = nfLines({ label: 'dns', kind: 'other', counters: h.counters() }, 100).map((parts) => parts.join('  ')).join('\n')
  t.regex(lines, /^queries 9 {2}responses 0 {2}malformed 0 {2}namesTracked 3/)
  const at = (s: string) => lines.indexOf(s)
  t.true(at('qtype/A 9') < at('names/api.example.net 5'))
  t.true(at('names/api.example.net 5') < at('names/www.example.com 3'))
  t.true(at('names/www.example.com 3') < at('names/mail.example.org 1'))
})

// ---- The bundled chain --------------------------------------------------------------------

const capture = join(root, 'examples/dns-log/dns.pcap')

// What dns.pcap holds (make-capture.ts): 23 queries of 9 names, 4 responses, 1 datagram to port 53
// too short for a header, 6 frames that are not DNS.
const expected = {
  queries: 23, responses: 4, malformed: 1, 'malformed/header': 1, namesTracked: 9, namesEvicted: 0,
  'qtype/A': 13, 'qtype/PTR': 1, 'qtype/MX': 2, 'qtype/TXT': 1, 'qtype/AAAA': 4, 'qtype/SRV': 1, 'qtype/HTTPS': 1,
  'names/www.example.com': 8,
  'names/api.example.net': 4,
  'names/~sets.example.net': 3,
  'names/mail.example.org': 2,
  'names/time.example.org': 2,
  'names/~corp.example.com': 1,
  'names/~192.in-addr.arpa': 1,
  'names/example.com': 1,
  'names/~ates.example.com': 1,
}

test('the bundled capture through the harness: its names counted as expected', async (t) => {
  const h = harness(dnsLog, { maxNames: 1024, topNames: 20 })
  const outcomes = await h.replay(capture)
  t.is(outcomes.length, 34)
  t.true(outcomes.every((o) => o.verdict === 'out'))
  t.deepEqual(h.counters(), expected)
})

test('the bundled capture\'s queries as tshark decodes them: the same names, as many times', async (t) => {
  // frame.number first: a row of empty fields would be lost to the helper's trim().
  const rows = await tsharkFields(capture, ['frame.number', 'dns.flags.response', 'dns.qry.name', 'udp.checksum.status', 'tcp.checksum.status'])
  t.is(rows.length, 34)
  // Every checksum right (1: good), where there is one.
  t.true(rows.every(([, , , udp, tcp]) => (udp ?? '') !== '0' && (tcp ?? '') !== '0'))
  const byTshark = new Map<string, number>()
  for (const [, response, name] of rows) if (response === '0' && name) byTshark.set(name.toLowerCase(), (byTshark.get(name.toLowerCase()) ?? 0) + 1)
  const h = harness(dnsLog, { topNames: 20 })
  await h.replay(capture)
  const byLogger = new Map(Object.entries(h.counters()).filter(([k]) => k.startsWith('names/')))
  t.is(byLogger.size, byTshark.size)
  for (const [name, count] of byTshark) {
    const shown = name.length <= 17 ? `names/${name}` : `names/~${name.slice(-16)}`
    t.is(byLogger.get(shown), count, name)
  }
})

test('the bundled chain replays through the real CLI: every packet passes, unchanged and in order, and the names are counted', async (t) => {
  const dir = scratchDir('dns-log-chain')
  const out = join(dir, 'out.pcap')
  const r = await xioChain(['replay', join(root, 'examples/dns-log/chain.json'), '--json', '--output', `out=${out}`])
  t.is(r.code, 0, r.stderr)
  const { endpoints } = JSON.parse(r.stdout)
  t.like(endpoints.dns, { rx: 34, tx: 34, dropped: 0, noRoute: 0 })
  // The NF's own counters as its process last published them, at the end of the replay; the
  // runner's timing of its bursts apart.
  t.deepEqual(endpoints.dns.counters, expected)
  const { burstP50Ns, burstP99Ns, nsPerPacket } = endpoints.dns.timing as Record<string, number>
  t.true(burstP50Ns > 0 && burstP99Ns >= burstP50Ns && nsPerPacket > 0)
  t.is(endpoints.out.written, 34)
  const [sent, received] = await Promise.all([readPcap(capture), readPcap(out)])
  t.deepEqual(received.records.map((x) => [...x.data]), sent.records.map((x) => [...x.data]))
})
