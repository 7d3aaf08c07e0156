// The router leg: ARP (answers, gleaning, resolution with held packets, retries, expiry),
// forwarding from the wire (TTL, checksum, flow hash, what is dropped and why), ICMP time
// exceeded, forwarding to the wire (next hop, MACs), its config errors, and a property: any
// bytes from either side never throw and every packet is accounted for by one counter.

import test from 'ava'
import fc from 'fast-check'
import router from '../../src/nfs/router/index.ts'
import { NFConfigError } from '../../src/xio/nf-types.ts'
import {
  checksumOf, formatIpv4, formatMac, get16, get32, Headers, ipv4ChecksumOk, l4ComputeChecksum, parse, parseIpv4, PARSE_IPV4,
  set16, symmetricFlowHash,
} from '../../src/packet/index.ts'
import { harness, MARKER, type HarnessOptions, type Outcome } from '../../src/testing/index.ts'
import { arpFrame, ipv4Frame, ipv6Frame, type FrameSpec } from '../../src/testing/frames.ts'

/** The port on the link (the `wire` gate leads to it) and the NF the `chain` gate leads to. */
const LAN = 1
const FW = 2
/** The clock's start: not 0, so an NF that takes 0 for "never" shows it. */
const T0 = 1_000_000

const MAC = '02:00:00:00:01:01' // the router's on this link
const ADDR = '10.0.0.1/24'
const HOST = '02:00:00:00:00:05'
const HOST_IP = '10.0.0.5'
const GW = '02:00:00:00:00:fe'
const GW_IP = '10.0.0.254'
const FAR = '198.51.100.9' // off the link

type Config = Parameters<typeof router.create>[0]

/** The router on the harness, wired as in a chain; enough buffers for all it may hold (256) and more. */
function routerOf(config: Partial<Config> = {}, options: HarnessOptions = {}) {
  const h = harness(router, { address: ADDR, mac: MAC, ...config }, {
    gates: { wire: LAN, chain: FW }, endpoints: { lan: LAN, fw: FW }, buffers: 600, now: T0, ...options,
  })
  return {
    h,
    /** A frame arriving on the link. */
    wire: (f: Uint8Array) => h.send(f, { from: LAN }),
    /** A frame arriving from the chain, to go out on the link. */
    chain: (f: Uint8Array) => h.send(f, { from: FW }),
    /** Moves the clock to T0 + ms, ticking on the way as the runner does. */
    at: (ms: number) => h.advance(T0 + ms - h.now),
    /** Its counters, each drop reason by its bare name (drop/noRoute read as noRoute): what became of packets, alike. */
    c: () => Object.fromEntries(Object.entries(h.counters()).map(([k, v]) => [k.replace(/^drop\//, ''), v])),
  }
}

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!, x => parseInt(x, 16))
const ip = (s: string) => parseIpv4(s)!

/** IPv4 arriving from the link for the router to forward: to its MAC, from a host's. */
const inbound = (spec: FrameSpec = {}) => ipv4Frame({ srcMac: HOST, dstMac: MAC, src: HOST_IP, dst: FAR, ...spec })
/** IPv4 arriving from the chain: its MACs are whatever the last NF left. */
const outbound = (spec: FrameSpec = {}) => ipv4Frame({ srcMac: '02:00:00:00:00:aa', dstMac: '02:00:00:00:00:bb', src: FAR, dst: HOST_IP, ...spec })
/** An ARP request for `target` from a host on the link. */
const whoHas = (target: string, from = HOST_IP, mac = HOST) => arpFrame({ op: 1, srcMac: mac, senderIp: from, targetIp: target })
/** An ARP reply from a host to the router. */
const isAt = (from: string, mac: string, to = '10.0.0.1', dstMac = MAC) => arpFrame({ op: 2, srcMac: mac, dstMac, senderIp: from, targetIp: to })

function headersOf(f: Uint8Array): Headers {
  const h = new Headers()
  if (parse(f, 0, f.length, h) !== PARSE_IPV4) throw new Error('not IPv4')
  return h
}

test('gates', t => t.deepEqual([...router.gates], ['chain', 'wire']))

// ---- ARP ----

test('answers an ARP request for its address, in place: the reply byte for byte', t => {
  const r = routerOf()
  const out = r.wire(whoHas('10.0.0.1'))
  t.is(out.verdict, 'wire')
  // Written out by hand from RFC 826: to the requester, from us; opcode 2; sender and
  // target swapped; the request's padding left as it was.
  t.deepEqual(out.frame, hex(`
    020000000005 020000000101 0806
    0001 0800 06 04 0002
    020000000101 0a000001
    020000000005 0a000005
    ${'00'.repeat(18)}`))
  t.is(r.c().arpReplies, 1)
})

test('answers a DAD probe (sender 0.0.0.0) without learning it', t => {
  const r = routerOf()
  const out = r.wire(whoHas('10.0.0.1', '0.0.0.0'))
  t.is(out.verdict, 'wire')
  t.is(formatIpv4(get32(out.frame, 38)), '0.0.0.0')
  t.is(formatMac(out.frame, 32), HOST)
  t.is(r.c().neighbours, 0)
})

test('ARP for another host, replies, odd opcodes, group senders and frames to another MAC end at the router: consumed, no drop', t => {
  const r = routerOf()
  t.is(r.wire(whoHas('10.0.0.2')).verdict, 'consumed')
  t.is(r.wire(arpFrame({ op: 3, srcMac: HOST, senderIp: HOST_IP, targetIp: '10.0.0.1' })).verdict, 'consumed')
  t.is(r.wire(arpFrame({ op: 1, srcMac: '03:00:00:00:00:05', senderIp: HOST_IP, targetIp: '10.0.0.1' })).verdict, 'consumed')
  t.is(r.wire(arpFrame({ op: 1, srcMac: MAC, senderIp: HOST_IP, targetIp: '10.0.0.1' })).verdict, 'consumed')
  // A request for us, unicast to another host's MAC: the promiscuous port's, not ours.
  t.is(r.wire(arpFrame({ op: 1, srcMac: HOST, dstMac: '02:00:00:00:00:77', senderIp: HOST_IP, targetIp: '10.0.0.1' })).verdict, 'consumed')
  t.is(r.c().arp, 5)
  t.is(r.c().arpReplies, 0)
  t.is(r.c().neighbours, 0)
})

test('gleaning: a request for our address teaches the sender; the next packet to it goes straight out', t => {
  const r = routerOf()
  r.wire(whoHas('10.0.0.1'))
  t.is(r.c().neighbours, 1)
  const f = outbound({ payload: 20 })
  const out = r.chain(f)
  t.is(out.verdict, 'wire')
  t.is(formatMac(out.frame, 0), HOST)
  t.is(formatMac(out.frame, 6), MAC)
  t.deepEqual(out.frame.slice(12), f.slice(12), 'nothing but the MACs changes toward the wire (the TTL went down on the way in)')
  t.is(r.h.packets.sent.length, 0, 'no ARP request')
  t.is(r.c().toWire, 1)
})

test('gleaning: not from requests for others, not from off-link senders; a reply to us is learned', t => {
  const r = routerOf()
  r.wire(whoHas('10.0.0.2')) // for another host: Linux creates no entry from it
  r.wire(whoHas('10.0.0.1', '192.0.2.5')) // off the link: answered, not learned
  t.is(r.c().arpReplies, 1)
  t.is(r.c().neighbours, 0)
  t.is(r.wire(isAt('10.0.0.6', '02:00:00:00:00:06', '10.0.0.9')).verdict, 'consumed') // a reply to someone else
  t.is(r.c().neighbours, 0)
  t.is(r.wire(isAt('10.0.0.6', '02:00:00:00:00:06')).verdict, 'consumed')
  t.is(r.c().neighbours, 1)
  t.is(formatMac(r.chain(outbound({ dst: '10.0.0.6' })).frame, 0), '02:00:00:00:00:06')
})

test('ARP refreshes and moves a learned neighbour, but never a static one', t => {
  const r = routerOf({ neighbours: { '10.0.0.9': '02:00:00:00:00:09' } })
  r.wire(whoHas('10.0.0.1'))
  r.wire(whoHas('10.0.0.77', HOST_IP, '02:00:00:00:00:55')) // the host moved to another MAC
  t.is(formatMac(r.chain(outbound()).frame, 0), '02:00:00:00:00:55')
  t.is(r.wire(whoHas('10.0.0.1', '10.0.0.9', '02:00:00:00:00:66')).verdict, 'wire') // still answered
  const out = r.chain(outbound({ dst: '10.0.0.9' }))
  t.is(out.verdict, 'wire')
  t.is(formatMac(out.frame, 0), '02:00:00:00:00:09')
})

test('the default MAC is 02:78:69 and the address\'s last three bytes', t => {
  const h = harness(router, { address: '192.168.10.254/24' }, { gates: { wire: LAN, chain: FW }, buffers: 8 })
  const out = h.send(whoHas('192.168.10.254', '192.168.10.2'), { from: LAN })
  t.is(formatMac(out.frame, 6), '02:78:69:a8:0a:fe')
  t.is(formatMac(out.frame, 22), '02:78:69:a8:0a:fe')
})

// ---- from the wire ----

test('forwards to the chain with the TTL one less and a header checksum that verifies', t => {
  const r = routerOf()
  for (const spec of [{ ttl: 64 }, { ttl: 2, proto: 'udp' as const }, { ttl: 255, options: [7, 7, 4, 0, 0, 0, 0] }, { ttl: 128, vlan: [5] }]) {
    const f = inbound({ ...spec, payload: 33 })
    const out = r.wire(f)
    t.is(out.verdict, 'chain')
    const h = headersOf(out.frame)
    t.is(h.ttl, spec.ttl - 1)
    t.true(ipv4ChecksumOk(out.frame, h.l3))
    t.is(get16(out.frame, h.l4 + (h.proto === 6 ? 16 : 6)), l4ComputeChecksum(out.frame, h.l3), 'the L4 checksum does not cover the TTL')
    // Everything but the TTL and the header checksum is as it came.
    const before = f.slice()
    const after = out.frame.slice()
    for (const o of [h.l3 + 8, h.l3 + 10, h.l3 + 11]) before[o] = after[o] = 0
    t.deepEqual(after, before)
  }
  t.is(r.c().toChain, 4)
})

test('the checksum update is right across the carry (RFC 1624), e.g. when the checksum is 0x0000 or 0xffff', t => {
  const r = routerOf()
  // Vary the IP id until the stored checksum lands on awkward values.
  let seen = 0
  for (let id = 0; id < 65536 && seen < 3; id++) {
    const f = inbound({ ttl: 9, id })
    const c = get16(f, 24)
    if (c !== 0xffff && c !== 0x0000 && c !== 0x0100 && c !== 0xfeff) continue
    seen++
    const out = r.wire(f)
    t.true(ipv4ChecksumOk(out.frame, 14), `id ${id} checksum ${c.toString(16)}`)
  }
  t.true(seen >= 2)
})

test('sets a symmetric flow hash: TCP/UDP by ports, ICMP echo by identifier, ICMP errors by the flow they quote', t => {
  const rlan = routerOf()
  const rwan = routerOf({ address: '203.0.113.2/24', mac: '02:00:00:00:02:02' })
  const toWan = (spec: FrameSpec) => rwan.wire(ipv4Frame({ srcMac: '02:00:00:00:02:99', dstMac: '02:00:00:00:02:02', ...spec }))
  const a = rlan.wire(inbound({ srcPort: 40000, dstPort: 443 }))
  t.is(a.flowHash, symmetricFlowHash(ip(HOST_IP), ip(FAR), 6, 40000, 443))
  // Its reply, on the other leg.
  t.is(toWan({ src: FAR, dst: HOST_IP, srcPort: 443, dstPort: 40000 }).flowHash, a.flowHash)
  const ping = rlan.wire(inbound({ proto: 'icmp', icmpType: 8, icmpId: 777 }))
  t.is(ping.flowHash, symmetricFlowHash(ip(HOST_IP), ip(FAR), 1, 777, 777))
  t.is(toWan({ src: FAR, dst: HOST_IP, proto: 'icmp', icmpType: 0, icmpId: 777 }).flowHash, ping.flowHash)
  // A port unreachable from a router on the far side, quoting the TCP packet above.
  const quoted = ipv4Frame({ src: HOST_IP, dst: FAR, srcPort: 40000, dstPort: 443 }).slice(14, 14 + 28)
  const err = toWan({ src: '203.0.113.9', dst: HOST_IP, proto: 'icmp', icmpType: 3, icmpCode: 3, icmpId: 0, icmpSeq: 0, payload: quoted })
  t.is(err.verdict, 'chain')
  t.is(err.flowHash, a.flowHash)
})

test('drops what a router does not forward, each under its counter', t => {
  const r = routerOf()
  const cases: Array<[string, Uint8Array, string]> = [
    ['another host\'s MAC', inbound({ dstMac: '02:00:00:00:00:77' }), 'notForUs'],
    ['link-layer broadcast', inbound({ dstMac: 'ff:ff:ff:ff:ff:ff' }), 'broadcast'],
    ['link-layer multicast', inbound({ dstMac: '01:00:5e:00:00:05' }), 'broadcast'],
    ['limited broadcast', inbound({ dst: '255.255.255.255' }), 'broadcast'],
    ['the link\'s broadcast', inbound({ dst: '10.0.0.255' }), 'broadcast'],
    ['multicast', inbound({ dst: '224.0.0.5' }), 'broadcast'],
    ['loopback source', inbound({ src: '127.0.0.1' }), 'martian'],
    ['this-network source', inbound({ src: '0.0.0.0' }), 'martian'],
    ['multicast source', inbound({ src: '239.1.1.1' }), 'martian'],
    ['our own address as source', inbound({ src: '10.0.0.1' }), 'martian'],
    ['loopback destination', inbound({ dst: '127.0.0.1' }), 'martian'],
    ['another host on the link', inbound({ dst: '10.0.0.9' }), 'sameLink'],
    ['IPv6', ipv6Frame({ srcMac: HOST, dstMac: MAC }), 'notIpv4'],
    ['other EtherType', (() => { const f = inbound(); set16(f, 12, 0x88cc); return f })(), 'notIpv4'],
    ['truncated', inbound().slice(0, 30), 'malformed'],
    ['bad header checksum', (() => { const f = inbound(); f[24] ^= 1; return f })(), 'badChecksum'],
  ]
  for (const [what, f, counter] of cases) {
    const before = r.c()[counter]
    t.is(r.wire(f).verdict, 'drop', what)
    t.is(r.c()[counter], before + 1, `${what}: ${counter}`)
  }
  t.is(r.c().toChain, 0)
  // Traffic to the router's own address goes on into the chain: a NAT behind it may own it.
  t.is(r.wire(inbound({ dst: '10.0.0.1' })).verdict, 'chain')
})

// ---- ICMP time exceeded ----

/** Checks that `out` is the time exceeded about `f` (the frame as it arrived, IP at 14 + tags). */
function checkTimeExceeded(t: import('ava').ExecutionContext, f: Uint8Array, out: Outcome, l3 = 14): void {
  t.is(out.verdict, 'wire')
  const g = out.frame
  t.is(formatMac(g, 0), formatMac(f, 6), 'to the sender\'s MAC')
  t.is(formatMac(g, 6), MAC, 'from ours')
  t.deepEqual(g.slice(12, l3), f.slice(12, l3), 'EtherType and any VLAN tags kept')
  const hl = (f[l3] & 15) * 4
  const data = Math.min(8, get16(f, l3 + 2) - hl)
  const quote = f.slice(l3, l3 + hl + data)
  t.is(g[l3], 0x45)
  t.is(g[l3 + 1], 0xc0, 'precedence internetwork control')
  t.is(get16(g, l3 + 2), 20 + 8 + quote.length, 'total length')
  t.is(get16(g, l3 + 6), 0, 'no DF, no fragment')
  t.is(g[l3 + 8], 64, 'TTL')
  t.is(g[l3 + 9], 1, 'ICMP')
  t.is(formatIpv4(get32(g, l3 + 12)), '10.0.0.1', 'from our address')
  t.is(get32(g, l3 + 16), get32(f, l3 + 12), 'to the packet\'s source')
  t.true(ipv4ChecksumOk(g, l3))
  const icmp = l3 + 20
  t.is(g[icmp], 11, 'time exceeded')
  t.is(g[icmp + 1], 0, 'in transit')
  t.is(get32(g, icmp + 4), 0, 'unused')
  t.is(checksumOf(g, icmp, 8 + quote.length, 0), 0, 'ICMP checksum')
  t.deepEqual(g.slice(icmp + 8), quote, 'quotes the IP header as received and 8 bytes after it')
  t.is(g.length, l3 + 28 + quote.length)
}

test('TTL 1 and 0: the packet becomes ICMP time exceeded to its sender, every field checked', t => {
  const r = routerOf()
  const cases: Array<[FrameSpec, number]> = [
    [{ ttl: 1, payload: 200 }, 14], // TCP with data: the quote is cut to 8 bytes of it
    [{ ttl: 0, proto: 'udp', payload: 0 }, 14], // exactly 8 bytes after the header
    [{ ttl: 1, proto: 'icmp', icmpType: 8, payload: 56 }, 14], // an echo request is answered
    [{ ttl: 1, options: [1, 1, 1, 1, 1, 1, 1, 0], payload: 3 }, 14], // options are quoted too
    [{ ttl: 1, proto: 47, payload: 3 }, 14], // fewer than 8 bytes after the header
    [{ ttl: 1, vlan: [42], payload: 10 }, 18],
    [{ ttl: 1, mf: true, payload: 40 }, 14], // a first fragment is answered
  ]
  for (const [spec, l3] of cases) {
    const f = inbound(spec)
    checkTimeExceeded(t, f, r.wire(f), l3)
  }
  t.is(r.c().ttlExceeded, cases.length)
  t.is(r.c().icmpErrors, cases.length)
  t.is(r.c().toChain, 0)
})

test('a tiny datagram grows into its error (60-byte frame in, 70 out) without touching past it', t => {
  const r = routerOf()
  const f = inbound({ ttl: 1, proto: 'udp', padTo: 60 })
  t.is(f.length, 60)
  const out = r.wire(f)
  checkTimeExceeded(t, f, out)
  t.is(out.frame.length, 14 + 28 + 28)
  t.is(r.h.bytes[r.h.offset(out.d) + 70], MARKER, 'nothing written past the error')
})

test('no ICMP error about an ICMP error, nor about a non-first fragment', t => {
  const r = routerOf()
  for (const type of [3, 4, 5, 11, 12]) {
    t.is(r.wire(inbound({ ttl: 1, proto: 'icmp', icmpType: type, payload: 28 })).verdict, 'drop', `type ${type}`)
  }
  t.is(r.wire(inbound({ ttl: 1, fragOffset: 100, rawL4: new Uint8Array(16) })).verdict, 'drop')
  t.is(r.c().ttlExceeded, 6)
  t.is(r.c().icmpErrors, 0)
})

test('ICMP errors are rate-limited: bursts of 50, 1000 a second', t => {
  // Ticks every 10 ms: the router's clock moves on ticks, and 100 ms would refill a whole burst.
  const r = routerOf({}, { tickMs: 10 })
  const answered = (n: number) => Array.from({ length: n }, () => r.wire(inbound({ ttl: 1 })).verdict).filter(v => v === 'wire').length
  t.is(answered(60), 50)
  r.at(10)
  t.is(answered(20), 10)
  r.at(1000)
  t.is(answered(60), 50)
  t.is(r.c().ttlExceeded, 140)
  t.is(r.c().icmpErrors, 110)
})

// ---- to the wire: next hop, resolution, held packets ----

test('an unresolved neighbour: packets are held, one ARP request asks for it, its reply releases them in order', t => {
  const r = routerOf()
  const frames = [0, 1, 2].map(i => outbound({ dst: '10.0.0.7', id: 100 + i, payload: 10 + i }))
  const first = r.chain(frames[0])
  t.is(first.verdict, 'held')
  // The request, written out by hand: broadcast, who has 10.0.0.7, tell 10.0.0.1 at our MAC.
  t.is(r.h.packets.sent.length, 1)
  t.is(r.h.packets.sent[0].gate, 'wire')
  t.deepEqual(r.h.packets.sent[0].frame, hex(`
    ffffffffffff 020000000101 0806
    0001 0800 06 04 0001
    020000000101 0a000001
    000000000000 0a000007`))
  t.is(r.chain(frames[1]).verdict, 'held')
  t.is(r.chain(frames[2]).verdict, 'held')
  t.is(r.h.packets.sent.length, 1, 'one request, not one per packet')
  t.is(r.c().held, 3)
  t.is(r.h.held, 3)
  // Another neighbour's packets go on meanwhile.
  r.wire(whoHas('10.0.0.1'))
  t.is(r.chain(outbound()).verdict, 'wire')

  t.is(r.wire(isAt('10.0.0.7', '02:00:00:00:00:07')).verdict, 'consumed')
  const released = r.h.packets.sent.slice(1)
  t.is(released.length, 3)
  released.forEach((s, i) => {
    t.is(s.gate, 'wire')
    t.is(formatMac(s.frame, 0), '02:00:00:00:00:07')
    t.is(formatMac(s.frame, 6), MAC)
    t.deepEqual(s.frame.slice(12), frames[i].slice(12), `packet ${i} whole and in order`)
  })
  t.is(r.c().held, 0)
  t.is(r.h.held, 0)
  t.is(r.c().toWire, 4)
  t.is(r.c().arpRequests, 1)
  // Until the next tick, the runner would put what process() returns on the wire before what
  // went through PacketOut: a packet behind the released ones goes through PacketOut too.
  const next = outbound({ dst: '10.0.0.7', id: 200 })
  t.is(r.chain(next).verdict, 'held')
  t.is(r.h.packets.sent.length, 5)
  t.deepEqual(r.h.packets.sent[4].frame.slice(12), next.slice(12))
  t.is(formatMac(r.h.packets.sent[4].frame, 0), '02:00:00:00:00:07')
  t.is(r.c().held, 0)
  t.is(r.h.held, 0)
  r.at(100)
  // Resolved, and the released ones long gone: the next one goes straight out.
  t.is(r.chain(next).verdict, 'wire')
  t.is(r.c().toWire, 6)
})

test('several instances: each ARP frame one learns from is copied to the others, which learn from it and answer nothing; held packets anywhere are released', t => {
  const legs = [0, 1, 2].map(instance => routerOf({}, { placement: { instance, instances: 3 } }))
  // Instance 2 holds packets for 10.0.0.7 and asks for it; the answer, as all ARP, reaches instance 0.
  const held = outbound({ dst: '10.0.0.7', id: 300 })
  t.is(legs[2].chain(held).verdict, 'held')
  t.is(legs[2].h.packets.sent.length, 1, 'its ARP request')
  t.is(legs[0].wire(isAt('10.0.0.7', '02:00:00:00:00:07')).verdict, 'consumed')
  const copies = legs[0].h.packets.handedOff
  t.deepEqual(copies.map(c => c.instance), [1, 2])
  for (const c of copies) t.deepEqual(c.frame, isAt('10.0.0.7', '02:00:00:00:00:07'), 'the frame as it came')
  t.is(legs[0].h.held, 0, 'the copies are the others\', not the sender\'s')
  // Each copy, delivered to its instance from the router itself, teaches it the neighbour.
  for (const c of copies) t.is(legs[c.instance].h.send(c.frame, { from: 0, handoff: c.tag }).verdict, 'consumed')
  const released = legs[2].h.packets.sent[1]
  t.is(released.gate, 'wire')
  t.is(formatMac(released.frame, 0), '02:00:00:00:00:07')
  t.deepEqual(released.frame.slice(12), held.slice(12))
  t.is(legs[1].chain(outbound({ dst: '10.0.0.7' })).verdict, 'wire', 'instance 1 knows it too')
  t.is(legs[0].c().arpShared, 2)
  // A request for our address: answered once, by the instance it reached; the others only learn the asker.
  t.is(legs[1].wire(whoHas('10.0.0.1', '10.0.0.9', '02:00:00:00:00:09')).verdict, 'wire')
  for (const c of legs[1].h.packets.handedOff) t.is(legs[c.instance].h.send(c.frame, { from: 0, handoff: c.tag }).verdict, 'consumed')
  for (const leg of legs) t.is(leg.chain(outbound({ dst: '10.0.0.9' })).verdict, 'wire')
  t.is(legs[0].h.packets.handedOff.length + legs[2].h.packets.handedOff.length, 2, 'copies are not copied again')
  t.is(legs[1].c().arpReplies + legs[0].c().arpReplies + legs[2].c().arpReplies, 1)
})

test('several instances: only ARP that can teach is copied, at most 64 at once then one a millisecond; a handed frame that is no ARP is dropped, counted', t => {
  const leg = routerOf({}, { placement: { instance: 0, instances: 4 } })
  // Who-has between two other hosts from a sender it never met, and a DAD probe: nothing to learn.
  leg.wire(whoHas('10.0.0.8', '10.0.0.9', '02:00:00:00:00:09'))
  leg.wire(arpFrame({ op: 1, srcMac: HOST, senderIp: '0.0.0.0', targetIp: '10.0.0.5' }))
  t.is(leg.h.packets.handedOff.length, 0)
  // A flood of requests for our address from ever new hosts: 64 copied (3 copies each), then limited.
  for (let i = 0; i < 100; i++) leg.wire(whoHas('10.0.0.1', `10.0.0.${10 + i}`, `02:00:00:00:01:${(10 + i).toString(16).padStart(2, '0')}`))
  t.is(leg.h.packets.handedOff.length, 64 * 3)
  t.like(leg.c(), { arpShared: 64 * 3, arpShareLimited: 36 })
  leg.at(100) // a tick: the bucket refills
  leg.wire(whoHas('10.0.0.1', '10.0.0.200', '02:00:00:00:02:00'))
  t.is(leg.h.packets.handedOff.length, 65 * 3, 'the bucket refills with time')
  // Nothing but ARP is handed to a router: anything else so handed is dropped and counted.
  t.is(leg.h.send(outbound(), { from: 0, handoff: 0 }).verdict, 'drop')
  t.is(leg.c().handedNotArp, 1)
})

test('one instance copies nothing and counts no copies', t => {
  const r = routerOf({}, { placement: { instance: 0, instances: 1 } })
  r.wire(isAt('10.0.0.7', '02:00:00:00:00:07'))
  t.is(r.h.packets.handedOff.length, 0)
  t.false('arpShared' in r.c())
})

test('a request from the neighbour being resolved resolves it too', t => {
  const r = routerOf()
  t.is(r.chain(outbound({ dst: '10.0.0.7' })).verdict, 'held')
  t.is(r.wire(whoHas('10.0.0.1', '10.0.0.7', '02:00:00:00:00:07')).verdict, 'wire')
  t.is(r.h.packets.sent.length, 2) // our request, then the held packet (the reply left as process()'s answer)
  t.is(formatMac(r.h.packets.sent[1].frame, 0), '02:00:00:00:00:07')
})

test('held packets: at most 32 per neighbour and 256 in all, the rest dropped and counted', t => {
  const r = routerOf()
  const verdicts = Array.from({ length: 33 }, () => r.chain(outbound({ dst: '10.0.0.7' })).verdict)
  t.deepEqual(verdicts, [...Array(32).fill('held'), 'drop'])
  t.is(r.c().unresolvedQueueFull, 1)
  for (let n = 10; n < 17; n++) for (let i = 0; i < 32; i++) t.is(r.chain(outbound({ dst: `10.0.0.${n}` })).verdict, 'held')
  t.is(r.c().held, 256)
  t.is(r.chain(outbound({ dst: '10.0.0.20' })).verdict, 'drop')
  t.is(r.c().unresolvedQueueFull, 2)
  t.is(r.c().arpRequests, 9, 'the neighbour that found no room is still asked for')
  t.is(r.h.held, 256)
  // One answer frees its 32 places for others.
  r.wire(isAt('10.0.0.10', '02:00:00:00:00:10'))
  t.is(r.c().held, 224)
  t.is(r.chain(outbound({ dst: '10.0.0.20' })).verdict, 'held')
})

test('an unanswered neighbour: asked once a second, three times; then its packets are dropped', t => {
  const r = routerOf()
  const requests = () => r.h.packets.sent.filter(s => get16(s.frame, 12) === 0x0806).length
  t.is(r.chain(outbound({ dst: '10.0.0.7' })).verdict, 'held')
  t.is(r.chain(outbound({ dst: '10.0.0.7' })).verdict, 'held')
  t.is(requests(), 1)
  r.at(500)
  t.is(requests(), 1)
  r.at(1000)
  t.is(requests(), 2)
  r.at(1500)
  t.is(r.chain(outbound({ dst: '10.0.0.7' })).verdict, 'held')
  r.at(2000)
  t.is(requests(), 3)
  r.at(2900)
  t.is(r.h.packets.dropped.length, 0)
  r.at(3000)
  t.is(requests(), 3, 'no fourth try')
  t.is(r.h.packets.dropped.length, 3)
  t.is(r.c().unresolved, 3)
  t.is(r.c().held, 0)
  t.is(r.c().neighbours, 0)
  t.is(r.h.held, 0)
  // A late reply is no longer awaited (Linux: the entry failed); the next packet asks again.
  t.is(r.chain(outbound({ dst: '10.0.0.7' })).verdict, 'held')
  t.is(requests(), 4)
})

test('at rest, idle() asks to be called for the next ARP retry, then when a learned neighbour expires; static ones need no call', t => {
  const r = routerOf({ neighbours: { '10.0.0.3': '02:00:00:00:00:03' } })
  t.is(r.h.idle(), Infinity, 'a static neighbour never expires')
  r.chain(outbound({ dst: '10.0.0.7' }))
  r.at(400)
  t.is(r.h.idle(), 600, 'asked at 0 ms: asked again at 1000')
  r.h.advance(600)
  t.is(r.h.idle(), 1000, 'the second request, just sent')
  r.wire(whoHas('10.0.0.1', '10.0.0.7', '02:00:00:00:00:07'))
  r.at(5000)
  t.is(r.h.idle(), 300_000 - 4000, 'learnt at 1000 ms: forgotten at 301 000')
})

test('off the link: through the gateway, resolved like any neighbour; without one, no route', t => {
  const r = routerOf({ gateway: GW_IP })
  const f = outbound({ dst: '192.0.2.44', payload: 5 })
  t.is(r.chain(f).verdict, 'held')
  t.is(formatIpv4(get32(r.h.packets.sent[0].frame, 38)), GW_IP, 'asks for the gateway, not the destination')
  r.wire(isAt(GW_IP, GW))
  t.is(r.h.packets.sent.length, 2)
  t.is(formatMac(r.h.packets.sent[1].frame, 0), GW)
  t.deepEqual(r.h.packets.sent[1].frame.slice(12), f.slice(12))
  r.at(100)
  const g = r.chain(outbound({ dst: '8.8.8.8' }))
  t.is(g.verdict, 'wire')
  t.is(formatMac(g.frame, 0), GW)
  // On the link: the destination itself, not the gateway.
  t.is(r.chain(outbound({ dst: '10.0.0.8' })).verdict, 'held')
  t.is(formatIpv4(get32(r.h.packets.sent.at(-1)!.frame, 38)), '10.0.0.8')

  const n = routerOf()
  t.is(n.chain(outbound({ dst: '192.0.2.44' })).verdict, 'drop')
  t.is(n.c().noRoute, 1)
  t.is(n.h.packets.sent.length, 0)
})

test('static neighbours: used at once, no ARP, never expire', t => {
  const r = routerOf({ gateway: GW_IP, neighbours: { [GW_IP]: GW, '10.0.0.3': '02:00:00:00:00:03' } })
  t.is(r.c().neighbours, 2)
  const a = r.chain(outbound({ dst: '10.0.0.3' }))
  t.is(a.verdict, 'wire')
  t.is(formatMac(a.frame, 0), '02:00:00:00:00:03')
  r.at(3_600_000)
  const b = r.chain(outbound({ dst: '203.0.113.50' }))
  t.is(b.verdict, 'wire')
  t.is(formatMac(b.frame, 0), GW)
  t.is(r.h.packets.sent.length, 0)
  t.is(r.c().neighbours, 2)
})

test('a learned neighbour expires after 5 minutes unless traffic from it confirms it', t => {
  const r = routerOf({ gateway: GW_IP })
  r.wire(whoHas('10.0.0.1'))
  r.wire(whoHas('10.0.0.1', GW_IP, GW))
  r.wire(whoHas('10.0.0.1', '10.0.0.6', '02:00:00:00:00:06'))
  t.is(r.c().neighbours, 3)
  r.at(200_000)
  // From the host itself, and from far away through the gateway's MAC.
  t.is(r.wire(inbound()).verdict, 'chain')
  t.is(r.wire(inbound({ src: FAR, srcMac: GW, dst: '203.0.113.1' })).verdict, 'chain')
  // 10.0.0.6's address from another MAC confirms nothing.
  t.is(r.wire(inbound({ src: '10.0.0.6', srcMac: '02:00:00:00:00:77' })).verdict, 'chain')
  r.at(299_999)
  t.is(r.c().neighbours, 3)
  r.at(300_000)
  t.is(r.c().neighbours, 2, 'the unconfirmed one is gone')
  t.is(r.chain(outbound({ dst: '10.0.0.6' })).verdict, 'held', 'and is resolved again')
  t.is(r.chain(outbound()).verdict, 'wire')
  t.is(r.chain(outbound({ dst: FAR })).verdict, 'wire')
  for (const ms of [301_000, 302_000, 303_000]) r.at(ms)
  t.is(r.c().unresolved, 1, '10.0.0.6 is gone for good: no one answers for it')
  r.at(499_999)
  t.is(r.c().neighbours, 2)
  r.at(500_000)
  t.is(r.c().neighbours, 0, 'the confirmed ones last five minutes from their confirmation')
  t.is(r.chain(outbound()).verdict, 'held', 'forgotten: resolved again')
})

test('from the chain: non-IPv4, broadcast and multicast, our own address and martians are dropped', t => {
  const r = routerOf({ gateway: GW_IP })
  const cases: Array<[string, Uint8Array, string]> = [
    ['ARP', whoHas('10.0.0.9'), 'notIpv4'],
    ['IPv6', ipv6Frame(), 'notIpv4'],
    ['limited broadcast', outbound({ dst: '255.255.255.255' }), 'broadcast'],
    ['the link\'s broadcast', outbound({ dst: '10.0.0.255' }), 'broadcast'],
    ['multicast', outbound({ dst: '239.0.0.1' }), 'broadcast'],
    ['our address', outbound({ dst: '10.0.0.1' }), 'local'],
    ['loopback', outbound({ dst: '127.0.0.1' }), 'martian'],
    ['truncated', outbound().slice(0, 20), 'malformed'],
  ]
  for (const [what, f, counter] of cases) {
    const before = r.c()[counter]
    t.is(r.chain(f).verdict, 'drop', what)
    t.is(r.c()[counter], before + 1, `${what}: ${counter}`)
  }
  t.is(r.h.packets.sent.length, 0)
})

test('a /31 link (RFC 3021) has no broadcast address: both ends are hosts', t => {
  const r = routerOf({ address: '10.0.0.0/31' })
  t.is(r.chain(outbound({ dst: '10.0.0.1' })).verdict, 'held')
})

// ---- its environment ----

test('built without PacketOut (as validate does): create works, an unresolved next hop is a drop', t => {
  const h = harness(router, { address: ADDR }, { gates: { wire: LAN, chain: FW }, packets: false, buffers: 4, now: T0 })
  t.is(h.send(outbound(), { from: FW }).verdict, 'drop')
  t.is(h.counters()['drop/unresolved'], 1)
  t.notThrows(() => h.advance(1_000_000))
})

test('the wire gate may be unknown when built: it is looked up again on the first packet', t => {
  const h = harness(router, { address: ADDR, mac: MAC }, { gates: { wire: -1, chain: -1 }, buffers: 8 })
  h.route('wire', LAN)
  t.is(h.send(whoHas('10.0.0.1'), { from: LAN }).verdict, 'wire')
})

// ---- config ----

test('config errors name the field', t => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{}, '/address', /missing/],
    [{ address: '10.0.0.1/24', typo: 1 }, '/typo', /unknown field/],
    [{ address: '10.0.0.300/24' }, '/address', /expected the router's address/],
    [{ address: '10.0.0.1/33' }, '/address', /expected the router's address/],
    [{ address: '10.0.0.1' }, '/address', /needs the link's prefix/],
    [{ address: '10.0.0.1/32' }, '/address', /needs the link's prefix/],
    [{ address: '10.0.0.0/24' }, '/address', /network address of 10\.0\.0\.0\/24/],
    [{ address: '10.0.0.255/24' }, '/address', /broadcast address of 10\.0\.0\.0\/24/],
    [{ address: '224.0.0.1/24' }, '/address', /not a unicast/],
    [{ address: ADDR, mac: '02:00:00:00:00' }, '/mac', /MAC address/],
    [{ address: ADDR, mac: '01:00:5e:00:00:01' }, '/mac', /multicast/],
    [{ address: ADDR, gateway: '10.0.1.1' }, '/gateway', /not on the link 10\.0\.0\.0\/24/],
    [{ address: ADDR, gateway: '10.0.0.1' }, '/gateway', /router's own address/],
    [{ address: ADDR, gateway: '10.0.0.255' }, '/gateway', /broadcast address/],
    [{ address: ADDR, gateway: 'router' }, '/gateway', /IPv4 address/],
    [{ address: ADDR, neighbours: [] }, '/neighbours', /expected an object/],
    [{ address: ADDR, neighbours: { 'host-5': '02:00:00:00:00:05' } }, '/neighbours/host-5', /IPv4 address/],
    [{ address: ADDR, neighbours: { '10.0.0.5': 'x' } }, '/neighbours/10.0.0.5', /MAC address/],
    [{ address: ADDR, neighbours: { '192.0.2.5': '02:00:00:00:00:05' } }, '/neighbours/192.0.2.5', /not on the link/],
  ]
  for (const [config, path, message] of cases) {
    const e = t.throws(() => harness(router, config as Config, { buffers: 1, schema: false }), { instanceOf: NFConfigError }, JSON.stringify(config))
    t.is(e?.path, path, JSON.stringify(config))
    t.regex(e?.message ?? '', message, JSON.stringify(config))
  }
  t.notThrows(() => harness(router, { address: '10.0.0.1/24', gateway: '10.0.0.254', neighbours: { '10.0.0.254': '02-00-00-00-00-fe' } }, { buffers: 1 }))
})

test('every packet the router drops is counted under drop/<reason>; what it answers or learns from is not a drop (CONSUMED, counted as arp)', t => {
  const keys = Object.keys(routerOf().h.counters())
  const drops = ['malformed', 'badChecksum', 'notIpv4', 'notForUs', 'broadcast', 'martian', 'sameLink', 'local', 'noRoute', 'ttlExceeded',
    'unresolved', 'unresolvedQueueFull', 'neighbourTableFull']
  t.deepEqual(keys.filter(k => k.startsWith('drop/')).sort(), drops.map(k => `drop/${k}`).sort())
  for (const k of ['arp', 'arpReplies', 'toChain', 'toWire']) t.true(keys.includes(k), k)
})

// ---- property ----

const FATES = [
  'malformed', 'badChecksum', 'notIpv4', 'notForUs', 'broadcast', 'martian', 'sameLink', 'local', 'noRoute', 'ttlExceeded',
  'arp', 'arpReplies', 'toChain', 'toWire', 'unresolved', 'unresolvedQueueFull', 'neighbourTableFull',
]

const addr = fc.constantFrom('10.0.0.1', '10.0.0.5', '10.0.0.7', '10.0.0.9', '10.0.0.255', '0.0.0.0', '127.0.0.1', '224.0.0.1',
  '255.255.255.255', FAR, '192.0.2.1', GW_IP)
const mac = fc.constantFrom(MAC, HOST, GW, 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '02:00:00:00:00:07')
const frameArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 120 }),
  fc.record({
    src: addr, dst: addr, srcMac: mac, dstMac: mac, ttl: fc.nat(3), proto: fc.constantFrom('tcp', 'udp', 'icmp', 47),
    icmpType: fc.constantFrom(0, 3, 8, 11), payload: fc.nat(40), vlan: fc.constantFrom([], [3]),
  }).map(s => ipv4Frame(s as FrameSpec)),
  // ARP weighted toward requests for the router, the ones it answers.
  fc.record({ op: fc.constantFrom(1, 1, 2, 3), senderIp: addr, targetIp: fc.oneof(fc.constant('10.0.0.1'), addr), srcMac: mac, dstMac: mac }).map(s => arpFrame(s)),
).chain(f => fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }).map(flips => {
  const g = f.slice()
  for (const [i, v] of flips) if (g.length) g[i % g.length] = v
  return g
}))

test('any bytes from either side: never a throw, always a gate, DROP, CONSUMED or HOLD, every packet counted once (property)', t => {
  const reached: Record<string, number> = {}
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.boolean(), frameArb, fc.nat(1500)), { minLength: 1, maxLength: 60, size: 'medium' }),
    fc.boolean(),
    // Ticks on a period of its own per run: packets fall anywhere between them, as a runner's bursts do.
    fc.integer({ min: 10, max: 1000 }),
    (steps, withGateway, tickMs) => {
      const r = routerOf(withGateway ? { gateway: GW_IP } : {}, { buffers: 400, tickMs })
      let clock = 0
      let n = 0, toChain = 0, wireAnswers = 0
      for (const [wire, frame, dt] of steps) {
        const arpBefore = r.c().arp
        const out = wire ? r.wire(frame) : r.chain(frame)
        n++
        // (The harness itself throws on a verdict that is no gate, DROP, CONSUMED or HOLD, and on a buffer
        // sent or dropped that was not the NF's.)
        if (!['chain', 'wire', 'drop', 'consumed', 'held'].includes(out.verdict)) throw new Error(`verdict ${out.verdict}`)
        // What ends at the router as ARP is consumed, never dropped; a drop is always counted under a reason.
        if ((out.verdict === 'consumed') !== (r.c().arp === arpBefore + 1)) throw new Error(`${out.verdict}, arp ${arpBefore} -> ${r.c().arp}`)
        if (wire && out.verdict === 'held') throw new Error('a packet from the wire was held')
        if (!wire && out.verdict === 'chain') throw new Error('a packet from the chain went back to the chain')
        if (wire && out.verdict === 'chain') toChain++
        if (wire && out.verdict === 'wire') wireAnswers++
        r.at((clock += dt))
        const c = r.c()
        // Every packet in is still held or has met exactly one fate, and the pool agrees: the
        // buffers the NF has are its held packets, no allocated one left unsent.
        const fates = FATES.reduce((sum, k) => sum + c[k], 0)
        if (fates + c.held !== n) throw new Error(`${n} packets, ${fates} fates + ${c.held} held: ${JSON.stringify(c)}`)
        if (c.held !== r.h.held) throw new Error(`held ${c.held}, the pool says ${r.h.held}`)
      }
      const c = r.c()
      if (c.toChain !== toChain) throw new Error(`toChain ${c.toChain}, seen ${toChain}`)
      if (c.arpReplies + c.icmpErrors !== wireAnswers) throw new Error(`answers on the wire: ${wireAnswers}, ${JSON.stringify(c)}`)
      if (c.icmpErrors > c.ttlExceeded) throw new Error('more ICMP errors than expired packets')
      for (const k of [...FATES, 'held', 'icmpErrors', 'arpRequests']) reached[k] = (reached[k] ?? 0) + c[k]
    },
  ), { numRuns: 400, seed: 424242 })
  // The generators reach every outcome but a full table, so the property is not passing vacuously.
  for (const k of [...FATES, 'held', 'icmpErrors', 'arpRequests']) {
    if (k !== 'neighbourTableFull' && k !== 'unresolvedQueueFull') t.true(reached[k] > 0, `${k}: ${reached[k]}`)
  }
})
