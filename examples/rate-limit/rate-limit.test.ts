// examples/rate-limit: a token bucket per source. Exact behaviour on the harness's clock (the
// bucket's burst, its refill at the rate, sources apart, the table's limit, expiry, what is
// not IP or not well formed), two properties over any arrival schedule (the decisions are the
// GCRA's, ITU-T I.371's equivalent of a token bucket, and no window passes more than burst +
// rate × window), and the bundled chain through the real CLI.
import test from 'ava'
import fc from 'fast-check'
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import rateLimit, { type Config } from './rate-limit.ts'
import { harness, type Harness } from '../../src/testing/index.ts'
import { formatIpv4, formatIpv6, get16, get32 } from '../../src/packet/index.ts'
import { readPcap } from '../../src/chain/pcap.ts'
import { arpFrame, ipv4Frame, ipv6Frame } from '../../src/testing/frames.ts'
import { root, xioChain } from '../../test/helpers/cli.ts'
import { scratchDir } from '../../test/helpers/scratch.ts'

const capture = join(root, 'examples/rate-limit/sources.pcap')
const chainSpec = join(root, 'examples/rate-limit/chain.json')

const from = (src: string) => ipv4Frame({ src, proto: 'udp', srcPort: 5000, dstPort: 53 })
const from6 = (src: string) => ipv6Frame({ src, proto: 'udp', srcPort: 5000, dstPort: 53 })

/** Sends a frame n times; the verdicts, joined ('out out drop'). */
function sendTimes(h: Harness, frame: Uint8Array, n: number): string {
  return Array.from({ length: n }, () => h.send(frame).verdict).join(' ')
}

test('a source gets its burst at once, then tokens at the rate, fractions carried over', (t) => {
  const h = harness(rateLimit, { rate: 10, burst: 5 })
  const a = from('10.0.0.2')
  t.is(sendTimes(h, a, 6), 'out out out out out drop')
  h.advance(99) // 0.99 of a token
  t.is(h.send(a).verdict, 'drop')
  h.advance(1)
  t.is(sendTimes(h, a, 2), 'out drop')
  h.advance(250) // 2.5 tokens: two packets, half a token left
  t.is(sendTimes(h, a, 3), 'out out drop')
  h.advance(50)
  t.is(sendTimes(h, a, 2), 'out drop')
  t.like(h.counters(), { passed: 9, limited: 5, sources: 1 })
})

test('a bucket never holds more than burst, however long the source was quiet', (t) => {
  const h = harness(rateLimit, { rate: 1000, burst: 3 }) // a token a ms: from empty to full in 3 ms
  const a = from('10.0.0.2')
  t.is(h.send(a).verdict, 'out')
  h.advance(2) // 2 tokens and 2 more would make 4
  t.is(sendTimes(h, a, 4), 'out out out drop')
  h.advance(60_000)
  t.is(sendTimes(h, a, 4), 'out out out drop')
})

test('sources are independent: one that floods leaves the others their own buckets', (t) => {
  const h = harness(rateLimit, { rate: 10, burst: 2 })
  t.is(sendTimes(h, from('10.0.0.66'), 50), ['out', 'out', ...Array(48).fill('drop')].join(' '))
  t.is(sendTimes(h, from('10.0.0.2'), 3), 'out out drop')
  t.is(sendTimes(h, from6('2001:db8:1::2'), 3), 'out out drop')
  t.like(h.counters(), { passed: 6, limited: 50, sources: 3 })
})

test('an IPv6 source is its /64 unless ipv6Prefix says otherwise; ipv4Prefix groups IPv4 sources', (t) => {
  const per64 = harness(rateLimit, { rate: 1, burst: 2 })
  t.is(`${per64.send(from6('2001:db8:1::2')).verdict} ${per64.send(from6('2001:db8:1::ffff:3')).verdict} ${per64.send(from6('2001:db8:1:0:a::')).verdict}`, 'out out drop')
  t.is(per64.send(from6('2001:db8:1:1::2')).verdict, 'out', 'another /64')
  const per128 = harness(rateLimit, { rate: 1, burst: 1, ipv6Prefix: 128 })
  t.is(`${per128.send(from6('2001:db8:1::2')).verdict} ${per128.send(from6('2001:db8:1::3')).verdict}`, 'out out')
  const per24 = harness(rateLimit, { rate: 1, burst: 2, ipv4Prefix: 24 })
  t.is(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.1.2'].map((s) => per24.send(from(s)).verdict).join(' '), 'out out drop out')
})

test('an IPv4 source and its IPv4-mapped IPv6 address are one source; other IPv6 addresses are not', (t) => {
  const h = harness(rateLimit, { rate: 1, burst: 1, ipv6Prefix: 128 })
  t.is(h.send(from('192.0.2.1')).verdict, 'out')
  t.is(h.send(from6('::ffff:192.0.2.1')).verdict, 'drop')
  t.is(h.send(from6('::192.0.2.1')).verdict, 'out')
})

test('a full table refuses new sources (tableFull) and keeps its own; a source leaves once its bucket has refilled', (t) => {
  // Each packet costs 1000 units of a 2000-unit bucket that refills 10 units a ms: full again 100 ms after one packet.
  const h = harness(rateLimit, { rate: 10, burst: 2, maxSources: 2 })
  t.is(h.send(from('10.0.0.2')).verdict, 'out')
  t.is(h.send(from('10.0.0.3')).verdict, 'out')
  t.is(h.send(from('10.0.0.4')).verdict, 'drop')
  t.is(h.send(from('10.0.0.2')).verdict, 'out', 'a tracked source goes on')
  t.like(h.counters(), { passed: 3, tableFull: 1, sources: 2, expired: 0 })
  h.advance(100) // the tick at 100 ms: 10.0.0.3 is full again, 10.0.0.2 (two packets) is not
  t.like(h.counters(), { sources: 1, expired: 1 })
  t.is(h.send(from('10.0.0.4')).verdict, 'out', 'room again')
  t.is(h.send(from('10.0.0.5')).verdict, 'drop')
  h.advance(100) // 10.0.0.2 and 10.0.0.4 both full again
  t.like(h.counters(), { sources: 0, expired: 3, tableFull: 2 })
})

test('at rest, idle() forgets every refilled source at once and asks to be called when the next bucket is full', (t) => {
  // 1000 units a packet, 10 a ms: a bucket of 3000 one packet short is full 100 ms later.
  const h = harness(rateLimit, { rate: 10, burst: 3 })
  t.is(h.send(from('10.0.0.2')).verdict, 'out')
  h.advance(50)
  t.is(h.send(from('10.0.0.3')).verdict, 'out')
  t.is(h.send(from('10.0.0.3')).verdict, 'out')
  h.advance(20)
  t.is(h.idle(), 30, '10.0.0.2 is full at 100 ms')
  h.advance(30)
  t.is(h.idle(), 150, 'forgotten; 10.0.0.3, two packets short at 50 ms, is full at 250 ms')
  t.like(h.counters(), { sources: 1, expired: 1 })
  h.advance(150)
  t.is(h.idle(), Infinity, 'none left: no call until a packet comes')
  t.like(h.counters(), { sources: 0, expired: 2 })
})

test('a tick looks at 65536 sources at most: a larger table is swept over several', (t) => {
  const h = harness(rateLimit, { rate: 1, burst: 2, maxSources: 100_000 })
  const frame = from('10.0.0.0')
  for (let i = 0; i < 70_000; i++) {
    frame[27] = i >> 16 // the source's last three bytes (the IPv4 checksum is not checked)
    frame[28] = i >> 8
    frame[29] = i
    h.send(frame)
  }
  t.like(h.counters(), { passed: 70_000, sources: 70_000 })
  h.advance(999)
  t.like(h.counters(), { sources: 70_000, expired: 0 })
  h.advance(1) // all full again at 1000 ms; this tick forgets the first 65536
  t.like(h.counters(), { sources: 70_000 - 65_536, expired: 65_536 })
  h.advance(100)
  t.like(h.counters(), { sources: 0, expired: 70_000 })
})

test('forgetting a refilled source changes nothing: it comes back with the full bucket it had', (t) => {
  const h = harness(rateLimit, { rate: 10, burst: 3 })
  const a = from('10.0.0.2')
  t.is(sendTimes(h, a, 3), 'out out out')
  h.advance(1000)
  t.like(h.counters(), { sources: 0, expired: 1 })
  t.is(sendTimes(h, a, 4), 'out out out drop')
})

test('frames that are not IP pass untouched and are not limited', (t) => {
  const h = harness(rateLimit, { rate: 1, burst: 1 })
  const arp = arpFrame({ senderIp: '10.0.0.66' })
  const lldp = Uint8Array.from({ length: 60 }, (_, i) => (i === 12 ? 0x88 : i === 13 ? 0xcc : i))
  for (let i = 0; i < 20; i++) {
    t.deepEqual(h.send(arp), { verdict: 'out', frame: arp })
    t.deepEqual(h.send(lldp), { verdict: 'out', frame: lldp })
  }
  t.like(h.counters(), { notIp: 40, passed: 0, limited: 0, sources: 0 })
})

test('passed frames leave unchanged, VLAN-tagged ones limited by their source like the rest', (t) => {
  const h = harness(rateLimit, { rate: 1, burst: 2 })
  const tagged = ipv4Frame({ src: '10.0.0.2', vlan: [7] })
  const qinq = ipv6Frame({ src: '2001:db8::2', vlan: [7, 8], qinq: true })
  t.deepEqual(h.send(tagged), { verdict: 'out', frame: tagged })
  t.is(h.send(from('10.0.0.2')).verdict, 'out')
  t.is(h.send(tagged).verdict, 'drop')
  t.deepEqual(h.send(qinq), { verdict: 'out', frame: qinq })
})

test('frames cut short or with an inconsistent IP header are dropped as malformed, and tracked nowhere', (t) => {
  const h = harness(rateLimit, { rate: 1000, burst: 1000 })
  const good4 = from('10.0.0.2')
  const good6 = from6('2001:db8::2')
  const withByte = (f: Uint8Array, at: number, v: number) => {
    const g = f.slice()
    g[at] = v
    return g
  }
  const bad: Record<string, Uint8Array> = {
    'shorter than an Ethernet header': good4.slice(0, 13),
    'cut inside a VLAN tag': ipv4Frame({ vlan: [7] }).slice(0, 16),
    'cut inside the IPv4 header': good4.slice(0, 14 + 19),
    'IPv4 EtherType, version 6': withByte(good4, 14, 0x65),
    'IPv4 header length under 20': withByte(good4, 14, 0x44),
    'IPv4 total length past the frame': withByte(good4, 17, good4.length - 14 + 1),
    'IPv4 total length under its header': (() => { const g = good4.slice(); g[16] = 0; g[17] = 19; return g })(),
    'cut inside the IPv6 header': good6.slice(0, 14 + 39),
    'IPv6 EtherType, version 4': withByte(good6, 14, 0x40),
    'IPv6 payload length past the frame': withByte(good6, 19, good6[19] + 1),
  }
  for (const [what, frame] of Object.entries(bad)) t.is(h.send(frame).verdict, 'drop', what)
  t.like(h.counters(), { malformed: Object.keys(bad).length, passed: 0, sources: 0 })
  // Padding after the datagram, as Ethernet's 60-byte minimum puts there, is not a fault.
  const padded = ipv4Frame({ src: '10.0.0.2', proto: 'udp', padTo: 60 })
  t.is(h.send(padded).verdict, 'out')
})

test('in bytes, a packet costs its IP datagram (padding aside); one longer than burst never passes', (t) => {
  const h = harness(rateLimit, { rate: 1000, unit: 'bytes', burst: 1500 })
  const sized = (datagram: number) => ipv4Frame({ src: '10.0.0.2', proto: 'udp', payload: datagram - 28, padTo: 60 })
  t.is(h.send(sized(1000)).verdict, 'out') // 500 left
  t.is(h.send(sized(501)).verdict, 'drop')
  t.is(h.send(sized(500)).verdict, 'out') // 0 left
  h.advance(28)
  t.is(h.send(sized(28)).verdict, 'out', 'a 28-byte datagram in a 60-byte frame costs 28')
  t.is(h.send(from6('2001:db8::2')).verdict, 'out')
  const big = ipv4Frame({ src: '10.0.0.9', proto: 'udp', payload: 1600 })
  t.is(h.send(big).verdict, 'drop')
  t.like(h.counters(), { passed: 4, limited: 2, sources: 2 }, 'the oversized packet made no entry')
})

test('bytes mode warns of a burst under a full-size packet', (t) => {
  t.deepEqual(harness(rateLimit, { rate: 1000, unit: 'bytes', burst: 1000 }).warnings, [{ path: '/burst', message: 'under 1500 bytes: a packet longer than burst never passes' }])
  t.deepEqual(harness(rateLimit, { rate: 1000, unit: 'bytes', burst: 1500 }).warnings, [])
  t.deepEqual(harness(rateLimit, { rate: 1000, burst: 10 }).warnings, [])
})

test('rates per minute refill as exactly', (t) => {
  const h = harness(rateLimit, { rate: 6, per: 'minute', burst: 1 })
  const a = from('10.0.0.2')
  t.is(h.send(a).verdict, 'out')
  h.advance(9_999)
  t.is(h.send(a).verdict, 'drop')
  h.advance(1)
  t.is(h.send(a).verdict, 'out')
})

test('a burst too deep for exact arithmetic is refused naming the field', (t) => {
  const error = t.throws(() => harness(rateLimit, { rate: 1, per: 'day', unit: 'bytes', burst: 2 ** 40 }))
  t.is(error?.message, '/burst: burst × the ms in a day must stay under 2^51 for exact arithmetic: a shorter period allows more')
})

// Properties. Arrivals: a gap (ms) before each packet and which of a few sources sends it.
const SOURCES = [from('10.0.0.1'), from('10.0.0.2'), from6('2001:db8:1::1'), from6('2001:db8:2::1')]
const PERIODS = { second: 1000, minute: 60_000 } as const
const configArb = fc.record({
  rate: fc.integer({ min: 1, max: 300 }),
  burst: fc.integer({ min: 1, max: 12 }),
  per: fc.constantFrom<'second' | 'minute'>('second', 'minute'),
})
const scheduleArb = fc.array(fc.record({ gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 5000 })), source: fc.nat(SOURCES.length - 1) }), { maxLength: 150 })

/** Runs a schedule through the NF; each arrival's time, source and verdict. */
function run(config: Config, schedule: Array<{ gap: number; source: number }>) {
  const h = harness(rateLimit, { ...config, maxSources: SOURCES.length })
  return schedule.map(({ gap, source }) => {
    h.advance(gap)
    return { time: h.now, source, passed: h.send(SOURCES[source]).verdict === 'out' }
  })
}

test('property: every decision is the GCRA\'s (the virtual scheduling form of the same bucket), expiry included', (t) => {
  fc.assert(
    fc.property(configArb, scheduleArb, (config, schedule) => {
      // In units of 1/rate ms: a packet is due one period after the last one counted, and may
      // come up to (burst - 1) periods early. No state is kept but each source's due time.
      const period = PERIODS[config.per]
      const due = new Map<number, number>()
      for (const r of run(config, schedule)) {
        const now = r.time * config.rate
        const tat = Math.max(due.get(r.source) ?? now, now)
        const conforms = now >= tat - (config.burst - 1) * period
        if (conforms) due.set(r.source, tat + period)
        if (conforms !== r.passed) return false
      }
      return true
    }),
    { numRuns: 300 },
  )
  t.pass()
})

test('property: in any window, a source passes at most burst + rate × window', (t) => {
  fc.assert(
    fc.property(configArb, scheduleArb, (config, schedule) => {
      const period = PERIODS[config.per]
      const arrivals = run(config, schedule)
      for (let source = 0; source < SOURCES.length; source++) {
        const times = arrivals.filter((r) => r.source === source && r.passed).map((r) => r.time)
        for (let i = 0; i < times.length; i++) {
          for (let j = i; j < times.length; j++) {
            // j - i + 1 packets passed in [times[i], times[j]]
            if ((j - i + 1) * period > config.burst * period + config.rate * (times[j] - times[i])) return false
          }
        }
      }
      return true
    }),
    { numRuns: 300 },
  )
  t.pass()
})

// The bundled capture: what make-capture.ts says of each source, with the chain's config.
const EXPECTED_OUT: Record<string, number> = { '10.0.0.66': 59, '10.0.0.4': 50, '10.0.0.2': 10, '10.0.0.3': 10, '2001:db8:1::2': 10, arp: 2 }
const chainConfig = { rate: 50, per: 'second', burst: 10, maxSources: 1024 } as const

function sourceOf(f: Uint8Array): string {
  const type = get16(f, 12)
  if (type === 0x0800) return formatIpv4(get32(f, 26))
  if (type === 0x86dd) return formatIpv6([0, 1, 2, 3].map((i) => get32(f, 22 + 4 * i)))
  return type === 0x0806 ? 'arp' : `0x${type.toString(16)}`
}

function countBySource(frames: Uint8Array[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const f of frames) counts[sourceOf(f)] = (counts[sourceOf(f)] ?? 0) + 1
  return counts
}

test('the bundled capture is what make-capture.ts makes, byte for byte', async (t) => {
  const file = join(scratchDir('rate-limit-capture'), 'sources.pcap')
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', join(root, 'examples/rate-limit/make-capture.ts'), file], { cwd: root }, (e) => (e ? reject(e) : resolve())),
  )
  t.deepEqual(readFileSync(file), readFileSync(capture))
})

test('the bundled capture through the harness, on the capture\'s own clock', async (t) => {
  const h = harness(rateLimit, chainConfig)
  const outcomes = await h.replay(capture)
  t.is(outcomes.length, 334)
  t.deepEqual(countBySource(h.out('out')), EXPECTED_OUT)
  t.like(h.counters(), { passed: 139, limited: 191, malformed: 2, notIp: 2, tableFull: 0 })
  h.advance(1000)
  t.like(h.counters(), { sources: 0 })
})

test('the bundled chain validates and replays through the real CLI, the flooder held to its rate', async (t) => {
  const dir = scratchDir('rate-limit')
  const out = join(dir, 'out.pcap')
  const r = await xioChain(['replay', chainSpec, '--json', '--output', `out=${out}`])
  t.is(r.code, 0, r.stderr)
  const { endpoints } = JSON.parse(r.stdout)
  t.like(endpoints.limit, { rx: 334, tx: 141, dropped: 193 })
  t.like(endpoints.limit.counters, { passed: 139, limited: 191, malformed: 2, notIp: 2, tableFull: 0 })
  t.is(endpoints.out.written, 141)
  const written = (await readPcap(out)).records.map((rec) => new Uint8Array(rec.data))
  t.deepEqual(countBySource(written), EXPECTED_OUT)
  // Each packet decided as on the harness, and what passed left as it came, in its order.
  const h = harness(rateLimit, chainConfig)
  const outcomes = await h.replay(capture)
  t.deepEqual(written, h.out('out'))
  // Ticks too: the harness's replay ticks as the runner on the captures' clock does.
  t.like(endpoints.limit.counters, { sources: h.counters().sources, expired: h.counters().expired })
  const input = (await readPcap(capture)).records.map((rec) => new Uint8Array(rec.data))
  t.deepEqual(written, input.filter((_, i) => outcomes[i].verdict === 'out'))
})

test('config mistakes are refused by validate, naming the field: the schema\'s, then create()\'s', async (t) => {
  const dir = scratchDir('rate-limit-config')
  const spec = (name: string, config: object) => {
    const file = join(dir, `${name}.json`)
    writeFileSync(file, JSON.stringify({
      endpoints: {
        in: { kind: 'pcap', input: capture },
        limit: { kind: 'nf', module: join(root, 'examples/rate-limit/rate-limit.ts'), config },
        out: { kind: 'pcap' },
      },
      links: ['in -> limit', 'limit -> out'],
    }))
    return file
  }
  const schema = spec('schema', { rate: 0, burst: 10, unit: 'furlongs' })
  const tooDeep = spec('too-deep', { rate: 1, burst: 2 ** 40, per: 'day' })
  const [r1, r2] = await Promise.all([xioChain(['validate', schema]), xioChain(['validate', tooDeep])])
  t.is(r1.code, 1)
  t.regex(r1.stderr, /\/endpoints\/limit\/config\/rate: must be >= 1/)
  t.regex(r1.stderr, /\/endpoints\/limit\/config\/unit: /)
  t.is(r2.code, 1)
  t.is(r2.stderr.trim(), `${tooDeep}: /endpoints/limit/config/burst: burst × the ms in a day must stay under 2^51 for exact arithmetic: a shorter period allows more`)
})
