import test from 'ava'
import nat from '../../src/nfs/nat/index.ts'
import { DROP, NFConfigError } from '../../src/xio/nf-types.ts'
import { formatIpv4, get16, ipv4ChecksumOk, parseIpv4, parseQuoted, Headers, checksumOf, ipv4ComputeChecksum } from '../../src/packet/index.ts'
import { arpFrame, ipv4Frame, packetOf } from '../packet/craft.ts'
import { TestEnv } from './env.ts'
import { checksumsOk, EXT, fromInside, fromOutside, headers, INSIDE, LAN, natOf, OUTSIDE, replyTo, WAN } from './nat-helpers.ts'

const H = { src: '10.0.0.2', dst: '198.51.100.9' }

test('gates', t => t.deepEqual([...nat.gates], ['inside', 'outside']))

test('outbound TCP is masqueraded, its reply translated back, checksums right', t => {
  const { nf } = natOf()
  const p = fromInside({ ...H, srcPort: 40000, dstPort: 443, tcpFlags: 0x02, payload: 100 })
  t.is(nf.process(p), OUTSIDE)
  const h = headers(p)
  t.is(formatIpv4(h.src), EXT)
  t.is(formatIpv4(h.dst), '198.51.100.9')
  t.true(h.srcPort >= 20000 && h.srcPort <= 59999)
  t.is(h.dstPort, 443)
  t.true(checksumsOk(p))
  const r = replyTo(p)
  t.is(nf.process(r), INSIDE)
  const rh = headers(r)
  t.is(formatIpv4(rh.dst), '10.0.0.2')
  t.is(rh.dstPort, 40000)
  t.is(formatIpv4(rh.src), '198.51.100.9')
  t.true(checksumsOk(r))
  const c = nf.counters!()
  t.is(c.mappingsActive, 1)
  t.is(c.sessionsCreated, 1)
  t.is(c.translatedOut, 1)
  t.is(c.translatedIn, 1)
})

test('endpoint-independent mapping: an inside endpoint keeps its external port for every destination (RFC 4787 REQ-1); other endpoints get other ports', t => {
  const { nf } = natOf()
  const port = (spec: Parameters<typeof fromInside>[0]) => {
    const p = fromInside(spec)
    nf.process(p)
    return headers(p).srcPort
  }
  const a = port({ ...H, srcPort: 1000 })
  t.is(port({ ...H, srcPort: 1000 }), a)
  const b = port({ ...H, srcPort: 1001 })
  const c = port({ ...H, srcPort: 1000, dst: '198.51.100.10', dstPort: 8443 })
  const d = port({ ...H, srcPort: 1000, proto: 'udp' })
  t.is(c, a)
  t.not(b, a)
  t.true(d >= 20000)
  t.is(nf.counters!().mappingsActive, 3)
  t.is(nf.counters!().sessionsActive, 4)
})

test('a reply finds its session only from the remote end it went to; a reused port maps to its new flow', t => {
  const { nf, at } = natOf({ ports: [20000, 20000], timeouts: { udp: 10, udpUnreplied: 10 } })
  const p = fromInside({ ...H, proto: 'udp', srcPort: 1111, dstPort: 53 })
  t.is(nf.process(p), OUTSIDE)
  t.is(headers(p).srcPort, 20000)
  const to = (spec: Parameters<typeof fromOutside>[0]) => nf.process(fromOutside({ dst: EXT, proto: 'udp', dstPort: 20000, ...spec }))
  t.is(to({ src: '198.51.100.10', srcPort: 53 }), DROP) // another remote host
  t.is(to({ src: '198.51.100.9', srcPort: 54 }), DROP) // another remote port
  t.is(nf.process(fromOutside({ src: '198.51.100.9', dst: EXT, proto: 'tcp', srcPort: 53, dstPort: 20000 })), DROP) // another protocol
  t.is(to({ src: '198.51.100.9', srcPort: 53 }), INSIDE)
  at(11)
  // The only port goes to a new flow of another inside host; the old remote reaches nobody.
  const q = fromInside({ src: '10.0.0.3', dst: '198.51.100.20', proto: 'udp', srcPort: 2222, dstPort: 123 })
  t.is(nf.process(q), OUTSIDE)
  t.is(headers(q).srcPort, 20000)
  t.is(to({ src: '198.51.100.9', srcPort: 53 }), DROP)
  const r = replyTo(q)
  t.is(nf.process(r), INSIDE)
  t.is(formatIpv4(headers(r).dst), '10.0.0.3')
  t.is(headers(r).dstPort, 2222)
  t.true(checksumsOk(r))
})

test('UDP: a zero checksum stays zero, others stay right', t => {
  const { nf } = natOf()
  const z = fromInside({ ...H, proto: 'udp', srcPort: 5353, dstPort: 53, noUdpChecksum: true, payload: 20 })
  t.is(nf.process(z), OUTSIDE)
  t.is(get16(z.bytes, headers(z).l4 + 6), 0)
  t.true(ipv4ChecksumOk(z.bytes, headers(z).l3))
  const u = fromInside({ ...H, proto: 'udp', srcPort: 5354, dstPort: 53, payload: 21 })
  nf.process(u)
  t.true(checksumsOk(u))
  const r = replyTo(u)
  t.is(nf.process(r), INSIDE)
  t.true(checksumsOk(r))
  t.is(headers(r).dstPort, 5354)
})

test('ICMP echo: the identifier is translated, the reply comes back', t => {
  const { nf } = natOf({ ports: [30000, 30010] })
  const p = fromInside({ ...H, proto: 'icmp', icmpType: 8, icmpId: 0x1234, payload: 56 })
  t.is(nf.process(p), OUTSIDE)
  const h = headers(p)
  t.is(formatIpv4(h.src), EXT)
  t.true(h.icmpId >= 30000 && h.icmpId <= 30010)
  t.true(checksumsOk(p))
  const r = fromOutside({ src: '198.51.100.9', dst: EXT, proto: 'icmp', icmpType: 0, icmpId: h.icmpId, payload: 56 })
  t.is(nf.process(r), INSIDE)
  t.is(headers(r).icmpId, 0x1234)
  t.is(formatIpv4(headers(r).dst), '10.0.0.2')
  t.true(checksumsOk(r))
  // Unsolicited echo requests and replies to the external address go nowhere.
  t.is(nf.process(fromOutside({ src: '198.51.100.9', dst: EXT, proto: 'icmp', icmpType: 8, icmpId: h.icmpId })), DROP)
  t.is(nf.process(fromOutside({ src: '198.51.100.9', dst: EXT, proto: 'icmp', icmpType: 0, icmpId: h.icmpId + 1 })), DROP)
  t.is(nf.process(fromOutside({ src: '198.51.100.8', dst: EXT, proto: 'icmp', icmpType: 0, icmpId: h.icmpId })), DROP)
  t.is(nf.counters!().noMappingDrops, 3)
})

test('port forward (DNAT): in to the inside host, its replies out from the forwarded port', t => {
  const { nf } = natOf({ forwards: [{ proto: 'tcp', port: 8080, to: '10.0.0.5:80' }, { proto: 'udp', port: 20000, to: '10.0.0.6' }], ports: [20000, 20001] })
  const p = fromOutside({ src: '198.51.100.7', dst: EXT, srcPort: 50000, dstPort: 8080, tcpFlags: 0x02, payload: 10 })
  t.is(nf.process(p), INSIDE)
  let h = headers(p)
  t.is(formatIpv4(h.dst), '10.0.0.5')
  t.is(h.dstPort, 80)
  t.true(checksumsOk(p))
  const r = replyTo(p, LAN)
  t.is(nf.process(r), OUTSIDE)
  h = headers(r)
  t.is(formatIpv4(h.src), EXT)
  t.is(h.srcPort, 8080)
  t.is(formatIpv4(h.dst), '198.51.100.7')
  t.is(h.dstPort, 50000)
  t.true(checksumsOk(r))
  // The forward is not for UDP 8080, and UDP 20000 (forwarded, same port) is not in the dynamic pool.
  t.is(nf.process(fromOutside({ src: '198.51.100.7', dst: EXT, proto: 'udp', dstPort: 8080 })), DROP)
  const u = fromOutside({ src: '198.51.100.7', dst: EXT, proto: 'udp', srcPort: 9, dstPort: 20000 })
  t.is(nf.process(u), INSIDE)
  t.is(formatIpv4(headers(u).dst), '10.0.0.6')
  t.is(headers(u).dstPort, 20000)
  const o = fromInside({ ...H, proto: 'udp', srcPort: 7 })
  t.is(nf.process(o), OUTSIDE)
  t.is(headers(o).srcPort, 20001)
  t.is(nf.process(fromInside({ ...H, proto: 'udp', srcPort: 8 })), DROP) // only 20001 was left
})

test('mappings expire: UDP unreplied and replied, TCP transitory and established, FIN and RST shorten', t => {
  const { nf, at } = natOf()
  const out = (s: Parameters<typeof fromInside>[0]) => {
    const p = fromInside(s)
    nf.process(p)
    return p
  }
  const lonely = out({ ...H, proto: 'udp', srcPort: 1 })
  const chatty = out({ ...H, proto: 'udp', srcPort: 2 })
  nf.process(replyTo(chatty))
  const syn = out({ ...H, srcPort: 3, tcpFlags: 0x02 })
  const est = out({ ...H, srcPort: 4, tcpFlags: 0x02 })
  nf.process(replyTo(est))
  const fin = out({ ...H, srcPort: 5, tcpFlags: 0x02 })
  nf.process(replyTo(fin))
  const rst = out({ ...H, srcPort: 6, tcpFlags: 0x02 })
  nf.process(replyTo(rst))
  t.is(nf.counters!().mappingsActive, 6)
  at(29)
  t.is(nf.process(replyTo(lonely)), INSIDE) // unreplied (30 s) until now; replied: 120 s from here
  at(60)
  t.is(nf.process(replyTo(lonely)), INSIDE)
  at(200)
  t.is(nf.process(replyTo(lonely)), DROP)
  t.is(nf.process(replyTo(chatty)), DROP)
  at(230)
  t.is(nf.process(replyTo(est)), INSIDE)
  nf.process(fromInside({ ...H, srcPort: 5, tcpFlags: 0x11 })) // FIN: 240 s from here
  nf.process(fromInside({ ...H, srcPort: 6, tcpFlags: 0x04 })) // RST: 240 s from here
  at(241)
  t.is(nf.process(replyTo(syn)), DROP) // never answered: transitory, 240 s
  at(469)
  t.is(nf.process(replyTo(est)), INSIDE) // established: 7440 s
  t.is(nf.process(replyTo(fin)), INSIDE)
  at(471)
  t.is(nf.process(replyTo(rst)), DROP)
  at(710)
  t.is(nf.process(replyTo(fin)), DROP)
  t.is(nf.process(replyTo(est)), INSIDE)
  at(710 + 7441)
  t.is(nf.process(replyTo(est)), DROP)
  const c = nf.counters!()
  t.is(c.mappingsActive, 0)
  t.is(c.sessionsExpired, 6)
})

test('the sweep expires mappings nobody asks about', t => {
  const { nf, at } = natOf({ timeouts: { udpUnreplied: 1 } })
  for (let i = 0; i < 100; i++) nf.process(fromInside({ ...H, proto: 'udp', srcPort: 1000 + i }))
  t.is(nf.counters!().mappingsActive, 100)
  for (let s = 0; s < 30; s++) at(2 + s * 0.1)
  t.is(nf.counters!().mappingsActive, 0)
  t.is(nf.counters!().sessionsExpired, 100)
})

test('exhaustion: new flows dropped and counted, old ones keep working, ports come back after expiry', t => {
  const { nf, at } = natOf({ ports: [20000, 20003], timeouts: { udp: 10, udpUnreplied: 10 } })
  const flows = [1, 2, 3, 4].map(i => fromInside({ ...H, proto: 'udp', srcPort: i }))
  for (const p of flows) t.is(nf.process(p), OUTSIDE)
  t.deepEqual(flows.map(p => headers(p).srcPort).sort(), [20000, 20001, 20002, 20003])
  t.is(nf.process(fromInside({ ...H, proto: 'udp', srcPort: 5 })), DROP)
  t.is(nf.process(fromInside({ ...H, proto: 'udp', srcPort: 6 })), DROP)
  t.is(nf.counters!().exhaustedDrops, 2)
  // Old flows, both ways.
  t.is(nf.process(fromInside({ ...H, proto: 'udp', srcPort: 3 })), OUTSIDE)
  t.is(nf.process(replyTo(flows[0])), INSIDE)
  // TCP has its own range.
  t.is(nf.process(fromInside({ ...H, srcPort: 5 })), OUTSIDE)
  // After expiry the ports are reused.
  at(11)
  const again = fromInside({ ...H, proto: 'udp', srcPort: 5 })
  t.is(nf.process(again), OUTSIDE)
  t.true([20000, 20001, 20002, 20003].includes(headers(again).srcPort))
  t.is(nf.process(replyTo(flows[1])), DROP) // its mapping is gone
})

test('many flows: 20,000 concurrent mappings, all distinct, all replies come back', t => {
  const { nf } = natOf({ ports: [10000, 39999] })
  const seen = new Set<number>()
  const out = []
  for (let i = 0; i < 20000; i++) {
    const p = fromInside({ src: `10.0.${i >> 8}.${i & 255}`, dst: '198.51.100.9', proto: i & 1 ? 'udp' : 'tcp', srcPort: 1024 + (i % 3), dstPort: 443 })
    t.is(nf.process(p), OUTSIDE)
    seen.add(headers(p).srcPort * 2 + (i & 1))
    out.push(p)
  }
  t.is(seen.size, 20000)
  for (let i = 0; i < out.length; i += 7) {
    const r = replyTo(out[i])
    t.is(nf.process(r), INSIDE)
    t.is(formatIpv4(headers(r).dst), `10.0.${i >> 8}.${i & 255}`)
  }
  t.is(nf.counters!().mappingsActive, 20000)
})

test('what passes untouched, what is dropped', t => {
  const { nf } = natOf()
  const notInside = fromInside({ src: '192.168.1.1', dst: '198.51.100.9' })
  t.is(nf.process(notInside), OUTSIDE)
  t.is(formatIpv4(headers(notInside).src), '192.168.1.1')
  const routed = fromOutside({ src: '198.51.100.9', dst: '10.0.0.2' })
  t.is(nf.process(routed), INSIDE)
  t.is(formatIpv4(headers(routed).dst), '10.0.0.2')
  t.is(nf.process(packetOf(arpFrame(), { from: LAN })), OUTSIDE)
  t.is(nf.process(packetOf(arpFrame(), { from: WAN })), INSIDE)
  t.is(nf.process(fromInside({ ...H, proto: 'udp', fragOffset: 10, rawL4: new Uint8Array(8) })), DROP)
  t.is(nf.process(fromInside({ ...H, proto: 47, payload: 8 })), DROP)
  t.is(nf.process(fromOutside({ src: '198.51.100.9', dst: EXT, dstPort: 30000 })), DROP)
  t.is(nf.process(packetOf(ipv4Frame({ ...H }).slice(0, 40), { from: LAN })), DROP)
  const c = nf.counters!()
  t.is(c.passed, 2)
  t.is(c.nonIp, 2)
  t.is(c.fragmentDrops, 1)
  t.is(c.unsupportedDrops, 1)
  t.is(c.noMappingDrops, 1)
  t.is(c.malformed, 1)
  t.is(c.mappingsActive, 0)
})

function icmpChecksumOk(b: Uint8Array, h: Headers): boolean {
  return checksumOf(b, h.l4, h.l3End - h.l4, 0) === 0
}

test('ICMP errors about a session are translated, quote and all (RFC 5508)', t => {
  const { nf } = natOf()
  const p = fromInside({ ...H, proto: 'udp', srcPort: 4444, dstPort: 33434, payload: 12 })
  nf.process(p)
  const sent = p.bytes.slice(p.at + 14, p.at + 14 + 40)
  const err = fromOutside({ src: '192.0.2.254', dst: EXT, proto: 'icmp', icmpType: 3, icmpCode: 4, icmpId: 0, payload: sent })
  t.is(nf.process(err), INSIDE)
  const h = headers(err)
  t.is(formatIpv4(h.dst), '10.0.0.2')
  t.true(ipv4ChecksumOk(err.bytes, h.l3))
  t.true(icmpChecksumOk(err.bytes, h))
  const q = new Headers()
  t.true(parseQuoted(err.bytes, h.l4 + 8, h.l3End, q))
  t.is(formatIpv4(q.src), '10.0.0.2')
  t.is(q.srcPort, 4444)
  t.is(q.dstPort, 33434)
  t.is(get16(err.bytes, q.l3 + 10), ipv4ComputeChecksum(err.bytes, q.l3))
  // The quote is now the packet as the inside host sent it, checksums included.
  const original = ipv4Frame({ ...H, proto: 'udp', srcPort: 4444, dstPort: 33434, payload: 12 }).slice(14)
  t.deepEqual(err.bytes.slice(q.l3, q.l3 + 40), original)
  // An error about nothing of ours is dropped.
  const other = fromOutside({ src: '192.0.2.254', dst: EXT, proto: 'icmp', icmpType: 3, icmpId: 0, payload: ipv4Frame({ src: EXT, dst: '198.51.100.9', proto: 'udp', srcPort: 1, dstPort: 2 }).slice(14) })
  t.is(nf.process(other), DROP)
})

test('ICMP errors from a forwarded inside host go out translated', t => {
  const { nf } = natOf({ forwards: [{ proto: 'udp', port: 5000, to: '10.0.0.5:5001' }] })
  const p = fromOutside({ src: '198.51.100.7', dst: EXT, proto: 'udp', srcPort: 999, dstPort: 5000, payload: 4 })
  nf.process(p)
  const got = p.bytes.slice(p.at + 14, p.at + 14 + 32)
  const err = fromInside({ src: '10.0.0.5', dst: '198.51.100.7', proto: 'icmp', icmpType: 3, icmpCode: 3, icmpId: 0, payload: got })
  t.is(nf.process(err), OUTSIDE)
  const h = headers(err)
  t.is(formatIpv4(h.src), EXT)
  t.true(ipv4ChecksumOk(err.bytes, h.l3))
  t.true(icmpChecksumOk(err.bytes, h))
  const q = new Headers()
  t.true(parseQuoted(err.bytes, h.l4 + 8, h.l3End, q))
  t.is(formatIpv4(q.dst), EXT)
  t.is(q.dstPort, 5000)
  t.deepEqual(err.bytes.slice(q.l3, q.l3 + 32), ipv4Frame({ src: '198.51.100.7', dst: EXT, proto: 'udp', srcPort: 999, dstPort: 5000, payload: 4 }).slice(14))
})

test('without an inside prefix every inside source is masqueraded', t => {
  const env = new TestEnv({}, { inside: LAN, outside: WAN })
  const nf = nat.create({ external: EXT }, env)
  const p = fromInside({ src: '192.168.7.7', dst: '198.51.100.9' })
  t.is(nf.process(p), OUTSIDE)
  t.is(formatIpv4(headers(p).src), EXT)
  t.is(parseIpv4(EXT), headers(p).src)
})

test('config errors name the JSON path', t => {
  const bad: Array<[unknown, string]> = [
    [{}, '/external'],
    [{ external: '203.0.113.300' }, '/external'],
    [{ external: EXT, inside: ['10.0.0.0/8', '10.0.0.1/8'] }, '/inside/1'],
    [{ external: EXT, ports: [3000, 2000] }, '/ports'],
    [{ external: EXT, ports: [0, 10] }, '/ports/0'],
    [{ external: EXT, ports: [1, 70000] }, '/ports/1'],
    [{ external: EXT, timeouts: { udp: 0 } }, '/timeouts/udp'],
    [{ external: EXT, timeouts: { other: 5 } }, '/timeouts/other'],
    [{ external: EXT, timeouts: { tcpEstablished: 10, tcpTransitory: 20 } }, '/timeouts/tcpEstablished'],
    [{ external: EXT, forwards: [{ proto: 'tcp', port: 80, to: '10.0.0.5:80' }, { proto: 'icmp', port: 1, to: '10.0.0.5' }] }, '/forwards/1/proto'],
    [{ external: EXT, forwards: [{ proto: 'tcp', port: 80, to: '10.0.0.5:99999' }] }, '/forwards/0/to'],
    [{ external: EXT, forwards: [{ proto: 'tcp', port: 80, to: 'host' }] }, '/forwards/0/to'],
    [{ external: EXT, forwards: [{ proto: 'tcp', port: 80, to: '10.0.0.5' }, { proto: 'tcp', port: 80, to: '10.0.0.6' }] }, '/forwards/1/port'],
    [{ external: EXT, forwards: [{ proto: 'tcp', to: '10.0.0.5' }] }, '/forwards/0/port'],
    [{ external: EXT, maxMappings: 0 }, '/maxMappings'],
    [{ external: EXT, extrnal: 1 }, '/extrnal'],
  ]
  for (const [cfg, path] of bad) {
    const e = t.throws(() => nat.create(cfg as never, new TestEnv()), { instanceOf: NFConfigError }, JSON.stringify(cfg))
    t.is(e?.path, path, JSON.stringify(cfg))
  }
})

test('filtering is address- and port-dependent, as Linux conntrack: only the remote endpoint a session went to gets in', t => {
  const { nf } = natOf()
  const p = fromInside({ ...H, proto: 'udp', srcPort: 5000, dstPort: 3478 })
  nf.process(p)
  const ext = headers(p).srcPort
  const to = (src: string, srcPort: number) => nf.process(fromOutside({ src, dst: EXT, proto: 'udp', srcPort, dstPort: ext }))
  t.is(to('198.51.100.9', 3478), INSIDE)
  t.is(to('198.51.100.9', 3479), DROP) // same host, another port
  t.is(to('198.51.100.77', 3478), DROP) // another host
  // Once the inside endpoint talks to that other host, it gets in, through the same mapping.
  const q = fromInside({ ...H, dst: '198.51.100.77', proto: 'udp', srcPort: 5000, dstPort: 3478 })
  nf.process(q)
  t.is(headers(q).srcPort, ext)
  t.is(to('198.51.100.77', 3478), INSIDE)
})

test('a mapping lives while any of its sessions does, and its port returns to the range with the last', t => {
  const { nf, at } = natOf({ ports: [20000, 20000], timeouts: { udp: 10, udpUnreplied: 10 } })
  const send = (dst: string, srcPort = 5000, src = '10.0.0.2') => {
    const p = fromInside({ src, dst, proto: 'udp', srcPort, dstPort: 53 })
    return nf.process(p) === DROP ? -1 : headers(p).srcPort
  }
  t.is(send('198.51.100.1'), 20000)
  at(6)
  t.is(send('198.51.100.2'), 20000) // a second session on the one port of the range
  t.is(send('198.51.100.1', 5001), -1) // another endpoint: the range is used up
  at(11) // the first session expired; the second keeps the mapping
  t.is(send('198.51.100.1', 5001), -1)
  t.is(nf.counters!().mappingsActive, 1)
  at(17) // the last session expired: the port is free for another endpoint
  t.is(send('198.51.100.1', 5001, '10.0.0.3'), 20000)
})

test('hairpinning: an inside host reaches a port forward through the external address, and the reply comes back the same way (RFC 4787 REQ-9)', t => {
  const { nf } = natOf({ forwards: [{ proto: 'tcp', port: 8080, to: '10.0.0.5:80' }] })
  const p = fromInside({ src: '10.0.0.3', dst: EXT, srcPort: 5555, dstPort: 8080, tcpFlags: 0x02, payload: 20 })
  t.is(nf.process(p), INSIDE)
  const h = headers(p)
  // The server sees the request from the external address, so its reply goes to the NAT.
  t.is(formatIpv4(h.src), EXT)
  t.true(h.srcPort >= 20000)
  t.is(formatIpv4(h.dst), '10.0.0.5')
  t.is(h.dstPort, 80)
  t.true(checksumsOk(p))
  const reply = fromInside({ src: '10.0.0.5', dst: EXT, srcPort: 80, dstPort: h.srcPort, tcpFlags: 0x12, payload: 20 })
  t.is(nf.process(reply), INSIDE)
  const rh = headers(reply)
  t.deepEqual([formatIpv4(rh.src), rh.srcPort, formatIpv4(rh.dst), rh.dstPort], [EXT, 8080, '10.0.0.3', 5555])
  t.true(checksumsOk(reply))
  t.is(nf.counters!().hairpinned, 2)
})
