// examples/maglev: the Maglev lookup table (how flows move when backends come and go, how
// evenly it shares them out), the NF built on it (which packets it steers, and how: address,
// MAC, checksums), its config errors, and its bundled chain through the real CLI.
import test, { type ExecutionContext } from 'ava'
import fc from 'fast-check'
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import maglev, { type Config, DEFAULT_TABLE_SIZE, isPrime, maglevTable, MAX_BACKENDS } from './maglev.ts'
import { harness } from '../../src/testing/index.ts'
import {
  formatIpv4, formatMac, get16, Headers, ipv4ChecksumOk, l4ComputeChecksum, parse, PARSE_IPV4, parseIpv4, set16, symmetricFlowHash,
} from '../../src/packet/index.ts'
import { readPcap } from '../../src/chain/pcap.ts'
import { arpFrame, ipv4Frame, ipv6Frame } from '../../src/testing/frames.ts'
import { root, tsharkFields, xioChain } from '../../test/helpers/cli.ts'
import { scratchDir } from '../../test/helpers/scratch.ts'

const dir = scratchDir('maglev')
const chainFile = join(root, 'examples/maglev/chain.json')
/** The bundled chain's config: VIP 203.0.113.80, port 80, web-a, web-b and web-c with MACs. */
const CONFIG = JSON.parse(readFileSync(chainFile, 'utf8')).endpoints.lb.config as Required<Config>
const VIP = CONFIG.vip
const NAMES = CONFIG.backends.map((b) => b.name)
const M = CONFIG.tableSize
const TABLE = maglevTable(NAMES, M)
const ip = (s: string) => parseIpv4(s)!

/** The backend a client's flow to the service should reach, by the table and the symmetric 5-tuple hash. */
function backendOf(src: string, srcPort: number, proto = 6, dstPort = 80) {
  return CONFIG.backends[TABLE[symmetricFlowHash(ip(src), ip(VIP), proto, srcPort, dstPort) % M]]
}

function headersOf(frame: Uint8Array): Headers {
  const h = new Headers()
  if (parse(frame, 0, frame.length, h) !== PARSE_IPV4) throw new Error('not an IPv4 frame')
  return h
}

/** IPv4 header checksum right, and the TCP or UDP one equal to a full recomputation (a zero UDP checksum, "none", left zero). */
function checksumsOk(frame: Uint8Array, h = headersOf(frame)): boolean {
  if (!ipv4ChecksumOk(frame, h.l3)) return false
  if (h.l4 < 0 || h.fragOffset !== 0 || h.moreFragments || ![1, 6, 17].includes(h.proto)) return true
  const stored = get16(frame, h.l4 + (h.proto === 6 ? 16 : h.proto === 17 ? 6 : 2))
  if (h.proto === 17 && stored === 0) return true
  return stored === l4ComputeChecksum(frame, h.l3)
}

/** A small deterministic PRNG (mulberry32), for many flows without fast-check's shrinking. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return (x ^ (x >>> 14)) >>> 0
  }
}

/** Asserts that a fast-check property holds, with the (shrunk) counterexample as the message if not. */
function holds<T>(t: ExecutionContext, property: fc.IProperty<T>, numRuns: number): void {
  const run = fc.check(property, { numRuns })
  t.false(run.failed, fc.defaultReportMessage(run))
}

/** Flow hashes of `count` random TCP 5-tuples to the VIP's port 80, as the NF computes them. */
function flowHashes(count: number, seed: number): Uint32Array {
  const next = prng(seed)
  const hashes = new Uint32Array(count)
  for (let i = 0; i < count; i++) hashes[i] = symmetricFlowHash(next() | 0, ip(VIP), 6, next() & 0xffff, 80)
  return hashes
}

/** The backend (by name) each flow reaches with a table built from `names`. */
function assign(names: readonly string[], hashes: Uint32Array, size = DEFAULT_TABLE_SIZE): string[] {
  const table = maglevTable(names, size)
  return Array.from(hashes, (hash) => names[table[hash % size]])
}

const webs = (n: number) => Array.from({ length: n }, (_, i) => `web-${i}`)

// How much more than the minimum moves. The paper (section 3.4) gives up a little of consistent
// hashing's minimal disruption for an even share: a backend joining or leaving also swaps a
// few entries between backends that stay, fewer the larger M is against N (its evaluation
// shows the larger table moving fewer). At the default M = 65537 and up to MAX_BACKENDS (M/N
// above 500) that extra stays under 0.7% of the entries in every case we measured, random
// names included (the property below), so 1% is the bound: for the flows of the backends that
// stay, and on top of the minimum (the leaver's 1/N, the newcomer's 1/(N+1)) for all flows.
const EXTRA = 0.01

test('when a backend is added or removed, only about 1/N of flows move', (t) => {
  const FLOWS = 100_000
  const hashes = flowHashes(FLOWS, 1)
  for (const n of [2, 3, 5, 10, 50, MAX_BACKENDS]) {
    const names = webs(n)
    const before = assign(names, hashes)
    for (const gone of new Set([names[0], names[n >> 1], names[n - 1]])) {
      const after = assign(names.filter((name) => name !== gone), hashes)
      let moved = 0, stayers = 0, stayersMoved = 0
      for (let f = 0; f < FLOWS; f++) {
        if (before[f] !== after[f]) moved++
        if (before[f] !== gone) {
          stayers++
          if (before[f] !== after[f]) stayersMoved++
        }
      }
      const leaversFlows = FLOWS - stayers
      t.true(moved / FLOWS >= 0.9 / n && moved / FLOWS <= 1 / n + EXTRA, `N=${n}, ${gone} removed: ${moved} of ${FLOWS} flows moved, about 1/N expected`)
      t.is(moved - stayersMoved, leaversFlows, 'every flow of the backend removed moves')
      t.true(stayersMoved / stayers <= EXTRA, `N=${n}, ${gone} removed: ${stayersMoved} of the ${stayers} flows of backends that stay moved`)
    }
    const joined = assign([...names, 'web-new'], hashes)
    let moved = 0, movedElsewhere = 0
    for (let f = 0; f < FLOWS; f++) {
      if (before[f] === joined[f]) continue
      moved++
      if (joined[f] !== 'web-new') movedElsewhere++
    }
    t.true(moved / FLOWS >= 0.9 / (n + 1) && moved / FLOWS <= 1 / (n + 1) + EXTRA, `N=${n}, one added: ${moved} of ${FLOWS} flows moved, about 1/(N+1) expected`)
    t.true(movedElsewhere / FLOWS <= EXTRA, `N=${n}, one added: ${movedElsewhere} flows moved between backends that were there before`)
  }
})

const backendNames = (min: number, max: number) =>
  fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9._-]{1,15}$/), { minLength: min, maxLength: max })

// With names of any kind, most changes stay as far under that bound; a few do not. Now and then
// (about one change in a hundred, more among few backends) the turns fall out so that a few
// per cent of entries swap, and two names whose second hashes meet in the 65,536 steps a table
// of 65537 has walk one cycle of it from two places, so that a change near them moves a
// quarter of all flows (seen with four backends). So a bound on every case is a test that
// fails by chance; the typical change is what holds: the median over 40 random sets of names.
test('whatever the names, a typical change moves little beyond the entries the backend gains or gives up', (t) => {
  const cases = fc.sample(fc.tuple(backendNames(2, MAX_BACKENDS), fc.nat(), fc.stringMatching(/^[A-Za-z0-9._-]{1,15}$/))
    .filter(([names, , newcomer]) => !names.includes(newcomer)), 40)
  const extras = cases.flatMap(([names, pick, newcomer]) => {
    const size = DEFAULT_TABLE_SIZE
    const name = (ns: readonly string[], table: Uint16Array, e: number) => ns[table[e]]
    const before = maglevTable(names, size)
    const gone = names[pick % names.length]
    const rest = names.filter((n) => n !== gone)
    const after = maglevTable(rest, size)
    const joinedNames = [...names, newcomer]
    const joined = maglevTable(joinedNames, size)
    let swappedOnRemoval = 0, swappedOnAddition = 0
    for (let e = 0; e < size; e++) {
      const was = name(names, before, e)
      if (was !== gone && was !== name(rest, after, e)) swappedOnRemoval++
      const now = name(joinedNames, joined, e)
      if (now !== newcomer && now !== was) swappedOnAddition++
    }
    return [swappedOnRemoval / size, swappedOnAddition / size]
  }).sort((x, y) => x - y)
  const median = extras[extras.length >> 1]
  t.true(median <= EXTRA, `the median change swapped ${(median * 100).toFixed(2)} % of the entries among backends that stay (the most: ${(extras.at(-1)! * 100).toFixed(2)} %)`)
})

// The paper asks for M > 100·N "to ensure at most a 1% difference in hash space assigned to
// backends": the backends take turns claiming entries, so their counts differ by at most one,
// which is at most 1/100 of a share of M/N > 100.
test('each backend gets M/N table entries, give or take one', (t) => {
  const check = (names: readonly string[], size: number) => {
    const counts = new Array<number>(names.length).fill(0)
    for (const i of maglevTable(names, size)) counts[i]++
    return counts.every((c) => c === Math.floor(size / names.length) || c === Math.ceil(size / names.length))
  }
  for (const n of [1, 2, 3, 7, 10, 100, MAX_BACKENDS]) t.true(check(webs(n), DEFAULT_TABLE_SIZE), `N=${n}`)
  holds(t, fc.property(backendNames(1, 40), fc.integer({ min: 2, max: 70_000 }), (names, m) => {
    let size = Math.max(m, names.length)
    while (!isPrime(size)) size++
    return check(names, size)
  }), 60)
  // And the flows follow the entries: 100,000 random flows over 10 backends, each within 5% of a tenth.
  const shares = new Map<string, number>()
  for (const name of assign(webs(10), flowHashes(100_000, 2))) shares.set(name, (shares.get(name) ?? 0) + 1)
  t.is(shares.size, 10)
  for (const [name, flows] of shares) t.true(Math.abs(flows / 100_000 - 0.1) <= 0.005, `${name}: ${flows} flows`)
})

test('the table depends on the set of names, not on the order the config lists them in', (t) => {
  holds(t, fc.property(backendNames(1, 30), fc.integer(), (names, seed) => {
    const shuffled = fc.sample(fc.shuffledSubarray(names, { minLength: names.length, maxLength: names.length }), { seed, numRuns: 1 })[0]
    const a = maglevTable(names, 4099)
    const b = maglevTable(shuffled, 4099)
    return a.every((i, e) => names[i] === shuffled[b[e]])
  }), 50)
})

test('the same flow always reaches the same backend, in every instance', (t) => {
  const one = harness(maglev, CONFIG)
  const other = harness(maglev, { ...CONFIG, backends: [...CONFIG.backends].reverse() })
  const next = prng(3)
  const seen = new Set<string>()
  for (let k = 0; k < 200; k++) {
    const src = formatIpv4(next() | 0)
    const srcPort = 1024 + (next() % 60000)
    const expected = backendOf(src, srcPort)
    seen.add(expected.name)
    // A connection's packets: SYN, an ACK, data of some size, FIN; each to either instance.
    for (const [tcpFlags, payload] of [[0x02, 0], [0x10, 0], [0x18, next() % 1400], [0x11, 0]]) {
      const nf = next() & 1 ? one : other
      const out = nf.send(ipv4Frame({ src, dst: VIP, srcPort, dstPort: 80, tcpFlags, payload }))
      t.is(out.verdict, 'out')
      t.is(formatIpv4(headersOf(out.frame).dst), expected.address)
    }
  }
  t.is(seen.size, 3, 'the 200 flows reach every backend')
  const steered = (c: Record<string, number>) => NAMES.reduce((sum, name) => sum + c[`backend/${name}`], 0)
  t.is(steered(one.counters()) + steered(other.counters()), 800)
})

test('steering rewrites the destination address and MAC; the checksums stay right (incremental update = recomputation)', (t) => {
  const nf = harness(maglev, CONFIG)
  holds(t, fc.property(
    fc.record({
      src: fc.ipV4(),
      srcPort: fc.integer({ min: 1, max: 65535 }),
      proto: fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'),
      payload: fc.uint8Array({ maxLength: 300 }),
      noUdpChecksum: fc.boolean(),
      options: fc.constantFrom<number[]>([], [1, 1, 1, 0], [0x94, 4, 0, 0]),
      vlan: fc.constantFrom<number[]>([], [100]),
      ttl: fc.integer({ min: 1, max: 255 }),
    }),
    (spec) => {
      const frame = ipv4Frame({ ...spec, dst: VIP, dstPort: 80 })
      const out = nf.send(frame)
      const h = headersOf(out.frame)
      const expected = backendOf(spec.src, spec.srcPort, spec.proto === 'tcp' ? 6 : 17)
      if (out.verdict !== 'out' || formatIpv4(h.dst) !== expected.address || formatMac(out.frame, 0) !== expected.mac) return false
      if (!checksumsOk(out.frame, h)) return false
      if (spec.proto === 'udp' && spec.noUdpChecksum && get16(out.frame, h.l4 + 6) !== 0) return false
      // Nothing else changed: put back the address, MAC and checksums, and it is the frame sent.
      const back = out.frame.slice()
      back.set(frame.subarray(0, 6), 0)
      back.set(frame.subarray(h.l3 + 10, h.l3 + 12), h.l3 + 10)
      back.set(frame.subarray(h.l3 + 16, h.l3 + 20), h.l3 + 16)
      const c = h.l4 + (spec.proto === 'tcp' ? 16 : 6)
      back.set(frame.subarray(c, c + 2), c)
      return Buffer.from(back).equals(Buffer.from(frame))
    },
  ), 300)
})

test('what is not for the service passes untouched', (t) => {
  const nf = harness(maglev, CONFIG)
  const frames = [
    ipv4Frame({ src: '198.51.100.1', dst: '203.0.113.99', dstPort: 80 }), // another address
    ipv4Frame({ src: '198.51.100.1', dst: VIP, dstPort: 22 }), // another port
    ipv4Frame({ src: '198.51.100.1', dst: VIP, proto: 'udp', dstPort: 53 }),
    ipv4Frame({ src: '198.51.100.1', dst: VIP, proto: 'icmp' }), // a ping, with a port set
    ipv4Frame({ src: '198.51.100.1', dst: VIP, proto: 47, payload: 40 }), // GRE, with a port set
    ipv4Frame({ src: VIP, dst: '198.51.100.1', srcPort: 80, dstPort: 40000 }), // the service's own reply
    ipv4Frame({ src: '198.51.100.1', dst: '203.0.113.99', dstPort: 80, vlan: [7] }),
    ipv6Frame({ src: '2001:db8::1', dst: '2001:db8::50', proto: 'tcp', dstPort: 80 }),
    arpFrame({ targetIp: VIP }),
    ipv4Frame({ src: '198.51.100.1', dst: '203.0.113.99', dstPort: 80 }).slice(0, 30), // cut short: nobody's to steer
  ]
  for (const frame of frames) {
    const out = nf.send(frame)
    t.is(out.verdict, 'out')
    t.deepEqual(out.frame, frame)
  }
  // And any frame at all not addressed to the VIP.
  holds(t, fc.property(fc.uint8Array({ minLength: 14, maxLength: 200 }), (frame) => {
    const h = new Headers()
    fc.pre(!(parse(frame, 0, frame.length, h) === PARSE_IPV4 && formatIpv4(h.dst) === VIP))
    fc.pre(!(frame.length >= 34 && get16(frame, 12) === 0x0800 && formatIpv4(new DataView(frame.buffer, frame.byteOffset).getInt32(30)) === VIP))
    const out = nf.send(frame)
    return out.verdict === 'out' && Buffer.from(out.frame).equals(Buffer.from(frame))
  }), 300)
  const c = nf.counters()
  t.is(c.notVip, nf.sent.length)
  t.is(c.malformed, 0)
  for (const name of NAMES) t.is(c[`backend/${name}`], 0)
})

test('without a port, everything to the VIP is balanced: pings by their identifier, other protocols by addresses', (t) => {
  const { port: _, ...anyPort } = CONFIG
  const nf = harness(maglev, anyPort)
  const backends = new Set<string>()
  for (let id = 1; id <= 40; id++) {
    const ping = (seq: number) => headersOf(nf.send(ipv4Frame({ src: '198.51.100.9', dst: VIP, proto: 'icmp', icmpId: id, icmpSeq: seq })).frame)
    const first = ping(1)
    t.is(ping(2).dst, first.dst, 'one identifier, one backend')
    backends.add(formatIpv4(first.dst))
  }
  t.is(backends.size, 3, 'identifiers spread over the backends')
  const gre = nf.send(ipv4Frame({ src: '198.51.100.9', dst: VIP, proto: 47, payload: 40 }))
  const expected = CONFIG.backends[TABLE[symmetricFlowHash(ip('198.51.100.9'), ip(VIP), 47, 0, 0) % M]]
  t.is(formatIpv4(headersOf(gre.frame).dst), expected.address)
  t.true(checksumsOk(gre.frame))
  t.is(nf.counters().notVip, 0)
})

test('the fragments of a datagram reach one backend, though only the first carries the port', (t) => {
  const nf = harness(maglev, CONFIG)
  const backends = new Set<string>()
  for (let k = 1; k <= 30; k++) {
    const src = `198.51.100.${k}`
    // A 1600-byte UDP datagram in two: the first fragment has the UDP header, the second does not.
    const first = nf.send(ipv4Frame({ src, dst: VIP, proto: 'udp', srcPort: 5000, dstPort: 80, id: k, mf: true, payload: 1472 }))
    const second = nf.send(ipv4Frame({ src, dst: VIP, proto: 'udp', id: k, fragOffset: 185, rawL4: new Uint8Array(128) }))
    const a = headersOf(first.frame), b = headersOf(second.frame)
    t.is(a.dst, b.dst)
    t.true(ipv4ChecksumOk(first.frame, a.l3) && ipv4ChecksumOk(second.frame, b.l3))
    t.is(formatIpv4(a.dst), CONFIG.backends[TABLE[symmetricFlowHash(ip(src), ip(VIP), 17, 0, 0) % M]].address)
    backends.add(formatIpv4(a.dst))
  }
  t.is(backends.size, 3)
})

test('an ICMP error about a packet of the service reaches the backend of the flow it quotes', (t) => {
  const nf = harness(maglev, CONFIG)
  /** A router's "fragmentation needed" about the service's reply to a client: its IP header and 8 bytes of TCP. */
  const fragNeeded = (client: string, clientPort: number, servicePort = 80, from = VIP) => {
    const reply = ipv4Frame({ src: from, dst: client, srcPort: servicePort, dstPort: clientPort, payload: 1460 })
    return ipv4Frame({ src: '192.0.2.1', dst: VIP, proto: 'icmp', icmpType: 3, icmpCode: 4, icmpId: 0, icmpSeq: 1400, payload: reply.slice(14, 14 + 28) })
  }
  for (let k = 1; k <= 30; k++) {
    const client = `198.51.100.${k}`
    const syn = headersOf(nf.send(ipv4Frame({ src: client, dst: VIP, srcPort: 41000 + k, dstPort: 80, tcpFlags: 0x02 })).frame)
    const error = nf.send(fragNeeded(client, 41000 + k))
    t.is(headersOf(error.frame).dst, syn.dst)
    t.true(checksumsOk(error.frame))
  }
  // About another port of the VIP's, or about someone else's packet: not the service's business.
  for (const frame of [fragNeeded('198.51.100.1', 41001, 22), fragNeeded('198.51.100.1', 41001, 80, '203.0.113.99')]) {
    const out = nf.send(frame)
    t.deepEqual(out.frame, frame)
  }
})

test('a flow hash set upstream (by the port, or an NF) picks the entry', (t) => {
  const nf = harness(maglev, CONFIG)
  const frame = ipv4Frame({ src: '198.51.100.1', dst: VIP, srcPort: 40000, dstPort: 80 })
  for (const flowHash of [1, 2, 3, 0x7fffffff, 0xffffffff, 123456789]) {
    const out = nf.send(frame, { flowHash: flowHash | 0 })
    t.is(formatIpv4(headersOf(out.frame).dst), CONFIG.backends[TABLE[flowHash % M]].address)
  }
  // The ports and the router set the symmetric 5-tuple hash, which is what the NF computes without one.
  const hash = symmetricFlowHash(ip('198.51.100.1'), ip(VIP), 6, 40000, 80)
  t.deepEqual(nf.send(frame, { flowHash: hash | 0 }).frame, nf.send(frame).frame)
})

test('malformed packets to the VIP are dropped and counted', (t) => {
  const nf = harness(maglev, CONFIG)
  const longer = ipv4Frame({ src: '198.51.100.1', dst: VIP, dstPort: 80 })
  set16(longer, 16, 1000) // total length past the frame
  const badTcp = ipv4Frame({ src: '198.51.100.1', dst: VIP, dstPort: 80 })
  badTcp[14 + 20 + 12] = 0x20 // TCP data offset 8 bytes
  const badIhl = ipv4Frame({ src: '198.51.100.1', dst: VIP, dstPort: 80 })
  badIhl[14] = 0x44
  for (const frame of [longer, badTcp, badIhl]) t.is(nf.send(frame).verdict, 'drop')
  // Malformed but for someone else: not ours to judge.
  const elsewhere = ipv4Frame({ src: '198.51.100.1', dst: '203.0.113.99', dstPort: 80 })
  set16(elsewhere, 16, 1000)
  t.is(nf.send(elsewhere).verdict, 'out')
  t.like(nf.counters(), { malformed: 3, notVip: 1 })
})

test('config errors name the field', (t) => {
  const backend = (i: number) => ({ name: `web-${i}`, address: `10.1.0.${i}` })
  const cases: Array<[string, unknown]> = [
    ['/tableSize', { vip: VIP, backends: [backend(1)], tableSize: 65536 }],
    ['/tableSize', { vip: VIP, backends: [backend(1)], tableSize: 1 }],
    ['/tableSize', { vip: VIP, backends: [backend(1), backend(2), backend(3)], tableSize: 2 }],
    ['/backends', { vip: VIP, backends: [] }],
    ['/backends/2/name', { vip: VIP, backends: [backend(1), backend(2), { ...backend(3), name: 'web-1' }] }],
    ['/backends/1/address', { vip: VIP, backends: [backend(1), { ...backend(2), address: '10.1.0.1' }] }],
    ['/backends/0/address', { vip: VIP, backends: [{ ...backend(1), address: VIP }] }],
    ['/backends/0/address', { vip: VIP, backends: [{ ...backend(1), address: '10.1.0' }] }],
    ['/backends/0/mac', { vip: VIP, backends: [{ ...backend(1), mac: '02:00:00:00:00' }] }],
    ['/backends/0/name', { vip: VIP, backends: [{ ...backend(1), name: 'a-name-far-too-long' }] }],
    ['/vip', { vip: '203.0.113', backends: [backend(1)] }],
  ]
  for (const [path, config] of cases) {
    const error = t.throws(() => harness(maglev, config as Config), { name: 'NFConfigError' }, JSON.stringify(config))
    t.is((error as Error & { path: string }).path, path, error?.message)
  }
  const small = harness(maglev, { vip: VIP, backends: [backend(1), backend(2), backend(3)], tableSize: 101 })
  t.deepEqual(small.warnings.map((w) => w.path), ['/tableSize'], 'fewer than 100 entries a backend is allowed, with a warning')
})

/** The bundled chain with its config changed, in a scratch folder (input and module by absolute path). */
function chainWith(name: string, config: object): string {
  const spec = JSON.parse(readFileSync(chainFile, 'utf8'))
  delete spec.$schema
  spec.endpoints.in.input = join(root, 'examples/maglev/clients.pcap')
  spec.endpoints.lb.module = join(root, 'examples/maglev/maglev.ts')
  spec.endpoints.lb.config = { ...CONFIG, ...config }
  delete spec.endpoints.out.output
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify(spec))
  return file
}

test('a chain refuses a config its schema does not allow, naming the field', async (t) => {
  const file = chainWith('schema', { vip: '203.0.113', backends: [], tableSize: 1 })
  const r = await xioChain(['validate', file])
  t.is(r.code, 1)
  t.deepEqual(r.stderr.trim().split('\n').sort(), [
    `${file}: /endpoints/lb/config/backends: must NOT have fewer than 1 items`,
    `${file}: /endpoints/lb/config/tableSize: must be >= 2`,
    `${file}: /endpoints/lb/config/vip: must be an IPv4 address like 192.0.2.1`,
  ])
})

// A TypeScript module is loaded through tsx's tsImport, which gives it its own copy of every
// module it imports, 'xio-chain' included: the NFConfigError it throws is another class than
// the CLI's, and is still recognised as one (src/xio/nf-types.ts).
test('a chain refuses a config create() refuses (a table size that is not prime), naming the field', async (t) => {
  const file = chainWith('not-prime', { tableSize: 65536 })
  const r = await xioChain(['validate', file])
  t.is(r.code, 1)
  t.regex(r.stderr.trim(), /\/endpoints\/lb\/config\/tableSize: 65536 is not a prime/)
})

test('the bundled chain replays through the real CLI: each connection to one backend, the rest untouched, checksums right', async (t) => {
  const output = join(dir, 'out.pcap')
  const r = await xioChain(['replay', chainFile, '--json', '--output', `out=${output}`])
  t.is(r.code, 0, r.stderr)
  const endpoints = JSON.parse(r.stdout).endpoints
  t.like(endpoints.lb, { rx: 97, tx: 96, dropped: 1 })
  t.is(endpoints.out.written, 96)

  // The one frame dropped is the malformed one; the rest come out in order.
  const input = (await readPcap(join(root, 'examples/maglev/clients.pcap'))).records.map((rec) => rec.data)
  const output_ = (await readPcap(output)).records.map((rec) => rec.data)
  const kept = input.filter((frame) => !(get16(frame, 12) === 0x0800 && 14 + get16(frame, 16) > frame.length))
  t.is(kept.length, 96)
  t.is(output_.length, 96)
  const byFlow = new Map<string, string>()
  const perBackend = new Map<string, number>()
  kept.forEach((sent, i) => {
    const got = output_[i]
    const h = get16(sent, 12) === 0x0800 ? headersOf(sent) : null
    const toService = h !== null && formatIpv4(h.dst) === VIP && h.proto === 6 && h.dstPort === 80
    const icmpError = h !== null && formatIpv4(h.dst) === VIP && h.proto === 1 && h.icmpType === 3
    if (!toService && !icmpError) {
      t.deepEqual(got, sent, `frame ${i} is not for the service: untouched`)
      return
    }
    // The error quotes the service's reply to client 7 (40259 = 40000 + 37·7), so it follows that flow.
    const expected = toService ? backendOf(formatIpv4(h.src), h.srcPort) : backendOf('198.51.100.7', 40259)
    const gh = headersOf(got)
    t.is(formatIpv4(gh.dst), expected.address)
    t.is(formatMac(got, 0), String(expected.mac))
    if (toService) {
      const flow = `${formatIpv4(h.src)}:${h.srcPort}`
      t.is(byFlow.get(flow) ?? expected.name, expected.name, `${flow} stays on one backend`)
      if (!byFlow.has(flow)) perBackend.set(expected.name, (perBackend.get(expected.name) ?? 0) + 1)
      byFlow.set(flow, expected.name)
    } else t.is(formatIpv4(gh.src), '192.0.2.1')
  })
  t.is(byFlow.size, 30)
  t.deepEqual([...perBackend.keys()].sort(), NAMES, `every backend gets some of the 30 connections: ${JSON.stringify([...perBackend])}`)

  // tshark's own checksum validation of every frame written: 1 is good, empty is no such
  // header; the ICMP error has two IP headers (its own and the one it quotes), so "1,1".
  const rows = await tsharkFields(output, ['frame.number', 'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'icmp.checksum.status'])
  t.is(rows.length, 96)
  const bad = rows.filter(([, ...statuses]) => statuses.some((s) => s.split(',').some((v) => v !== '' && v !== '1')))
  t.deepEqual(bad, [], 'frames whose checksums tshark finds wrong')
})

test('the bundled capture is what make-capture.ts makes', async (t) => {
  const file = join(dir, 'clients.pcap')
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', join(root, 'examples/maglev/make-capture.ts'), file], { cwd: root }, (e) => (e ? reject(e) : resolve())),
  )
  t.true(readFileSync(file).equals(readFileSync(join(root, 'examples/maglev/clients.pcap'))))
})
