import test from 'ava'
import nat from '../../src/nfs/nat/index.ts'
import { NFConfigError } from '../../src/xio/nf-types.ts'
import { formatIpv4, get16, ipv4ChecksumOk, parseIpv4, parseQuoted, Headers, checksumOf, ipv4ComputeChecksum } from '../../src/packet/index.ts'
import { harness } from '../../src/testing/index.ts'
import { arpFrame, ipv4Frame } from '../../src/testing/frames.ts'
import { checksumsOk, EXT, headers, LAN, natOf, WAN } from './nat-helpers.ts'

const H = { src: '10.0.0.2', dst: '198.51.100.9' }

test('gates', t => t.deepEqual([...nat.gates], ['inside', 'outside']))

test('outbound TCP is masqueraded, its reply translated back, checksums right', t => {
  const { fromInside, answer, c } = natOf()
  const p = fromInside({ ...H, srcPort: 40000, dstPort: 443, tcpFlags: 0x02, payload: 100 })
  t.is(p.verdict, 'outside')
  const h = headers(p.frame)
  t.is(formatIpv4(h.src), EXT)
  t.is(formatIpv4(h.dst), '198.51.100.9')
  t.true(h.srcPort >= 20000 && h.srcPort <= 59999)
  t.is(h.dstPort, 443)
  t.true(checksumsOk(p.frame))
  const r = answer(p)
  t.is(r.verdict, 'inside')
  const rh = headers(r.frame)
  t.is(formatIpv4(rh.dst), '10.0.0.2')
  t.is(rh.dstPort, 40000)
  t.is(formatIpv4(rh.src), '198.51.100.9')
  t.true(checksumsOk(r.frame))
  t.like(c(), { mappingsActive: 1, sessionsCreated: 1, translatedOut: 1, translatedIn: 1 })
})

test('endpoint-independent mapping: an inside endpoint keeps its external port for every destination (RFC 4787 REQ-1); other endpoints get other ports', t => {
  const { fromInside, c } = natOf()
  const port = (spec: Parameters<typeof fromInside>[0]) => headers(fromInside(spec).frame).srcPort
  const a = port({ ...H, srcPort: 1000 })
  t.is(port({ ...H, srcPort: 1000 }), a)
  const b = port({ ...H, srcPort: 1001 })
  const cc = port({ ...H, srcPort: 1000, dst: '198.51.100.10', dstPort: 8443 })
  const d = port({ ...H, srcPort: 1000, proto: 'udp' })
  t.is(cc, a)
  t.not(b, a)
  t.true(d >= 20000)
  t.is(c().mappingsActive, 3)
  t.is(c().sessionsActive, 4)
})

test('a reply finds its session only from the remote end it went to; a reused port maps to its new flow', t => {
  const { fromInside, fromOutside, answer, at } = natOf({ ports: [20000, 20000], timeouts: { udp: 10, udpUnreplied: 10 } })
  const p = fromInside({ ...H, proto: 'udp', srcPort: 1111, dstPort: 53 })
  t.is(p.verdict, 'outside')
  t.is(headers(p.frame).srcPort, 20000)
  const to = (spec: Parameters<typeof fromOutside>[0]) => fromOutside({ dst: EXT, proto: 'udp', dstPort: 20000, ...spec }).verdict
  t.is(to({ src: '198.51.100.10', srcPort: 53 }), 'drop') // another remote host
  t.is(to({ src: '198.51.100.9', srcPort: 54 }), 'drop') // another remote port
  t.is(fromOutside({ src: '198.51.100.9', dst: EXT, proto: 'tcp', srcPort: 53, dstPort: 20000 }).verdict, 'drop') // another protocol
  t.is(to({ src: '198.51.100.9', srcPort: 53 }), 'inside')
  at(11)
  // The only port goes to a new flow of another inside host; the old remote reaches nobody.
  const q = fromInside({ src: '10.0.0.3', dst: '198.51.100.20', proto: 'udp', srcPort: 2222, dstPort: 123 })
  t.is(q.verdict, 'outside')
  t.is(headers(q.frame).srcPort, 20000)
  t.is(to({ src: '198.51.100.9', srcPort: 53 }), 'drop')
  const r = answer(q)
  t.is(r.verdict, 'inside')
  t.is(formatIpv4(headers(r.frame).dst), '10.0.0.3')
  t.is(headers(r.frame).dstPort, 2222)
  t.true(checksumsOk(r.frame))
})

test('UDP: a zero checksum stays zero, others stay right', t => {
  const { fromInside, answer } = natOf()
  const z = fromInside({ ...H, proto: 'udp', srcPort: 5353, dstPort: 53, noUdpChecksum: true, payload: 20 })
  t.is(z.verdict, 'outside')
  t.is(get16(z.frame, headers(z.frame).l4 + 6), 0)
  t.true(ipv4ChecksumOk(z.frame, headers(z.frame).l3))
  const u = fromInside({ ...H, proto: 'udp', srcPort: 5354, dstPort: 53, payload: 21 })
  t.true(checksumsOk(u.frame))
  const r = answer(u)
  t.is(r.verdict, 'inside')
  t.true(checksumsOk(r.frame))
  t.is(headers(r.frame).dstPort, 5354)
})

test('ICMP echo: the identifier is translated, the reply comes back', t => {
  const { fromInside, fromOutside, c } = natOf({ ports: [30000, 30010] })
  const p = fromInside({ ...H, proto: 'icmp', icmpType: 8, icmpId: 0x1234, payload: 56 })
  t.is(p.verdict, 'outside')
  const h = headers(p.frame)
  t.is(formatIpv4(h.src), EXT)
  t.true(h.icmpId >= 30000 && h.icmpId <= 30010)
  t.true(checksumsOk(p.frame))
  const r = fromOutside({ src: '198.51.100.9', dst: EXT, proto: 'icmp', icmpType: 0, icmpId: h.icmpId, payload: 56 })
  t.is(r.verdict, 'inside')
  t.is(headers(r.frame).icmpId, 0x1234)
  t.is(formatIpv4(headers(r.frame).dst), '10.0.0.2')
  t.true(checksumsOk(r.frame))
  // Unsolicited echo requests and replies to the external address go nowhere.
  t.is(fromOutside({ src: '198.51.100.9', dst: EXT, proto: 'icmp', icmpType: 8, icmpId: h.icmpId }).verdict, 'drop')
  t.is(fromOutside({ src: '198.51.100.9', dst: EXT, proto: 'icmp', icmpType: 0, icmpId: h.icmpId + 1 }).verdict, 'drop')
  t.is(fromOutside({ src: '198.51.100.8', dst: EXT, proto: 'icmp', icmpType: 0, icmpId: h.icmpId }).verdict, 'drop')
  t.is(c()['drop/noMapping'], 3)
})

test('port forward (DNAT): in to the inside host, its replies out from the forwarded port', t => {
  const { fromInside, fromOutside, answer } = natOf({ forwards: [{ proto: 'tcp', port: 8080, to: '10.0.0.5:80' }, { proto: 'udp', port: 20000, to: '10.0.0.6' }], ports: [20000, 20001] })
  const p = fromOutside({ src: '198.51.100.7', dst: EXT, srcPort: 50000, dstPort: 8080, tcpFlags: 0x02, payload: 10 })
  t.is(p.verdict, 'inside')
  let h = headers(p.frame)
  t.is(formatIpv4(h.dst), '10.0.0.5')
  t.is(h.dstPort, 80)
  t.true(checksumsOk(p.frame))
  const r = answer(p, LAN)
  t.is(r.verdict, 'outside')
  h = headers(r.frame)
  t.is(formatIpv4(h.src), EXT)
  t.is(h.srcPort, 8080)
  t.is(formatIpv4(h.dst), '198.51.100.7')
  t.is(h.dstPort, 50000)
  t.true(checksumsOk(r.frame))
  // The forward is not for UDP 8080, and UDP 20000 (forwarded, same port) is not in the dynamic pool.
  t.is(fromOutside({ src: '198.51.100.7', dst: EXT, proto: 'udp', dstPort: 8080 }).verdict, 'drop')
  const u = fromOutside({ src: '198.51.100.7', dst: EXT, proto: 'udp', srcPort: 9, dstPort: 20000 })
  t.is(u.verdict, 'inside')
  t.is(formatIpv4(headers(u.frame).dst), '10.0.0.6')
  t.is(headers(u.frame).dstPort, 20000)
  const o = fromInside({ ...H, proto: 'udp', srcPort: 7 })
  t.is(o.verdict, 'outside')
  t.is(headers(o.frame).srcPort, 20001)
  t.is(fromInside({ ...H, proto: 'udp', srcPort: 8 }).verdict, 'drop') // only 20001 was left
})

test('mappings expire: UDP unreplied and replied, TCP transitory and established, FIN and RST shorten', t => {
  const { fromInside, answer, at, c } = natOf()
  const lonely = fromInside({ ...H, proto: 'udp', srcPort: 1 })
  const chatty = fromInside({ ...H, proto: 'udp', srcPort: 2 })
  answer(chatty)
  const syn = fromInside({ ...H, srcPort: 3, tcpFlags: 0x02 })
  const est = fromInside({ ...H, srcPort: 4, tcpFlags: 0x02 })
  answer(est)
  const fin = fromInside({ ...H, srcPort: 5, tcpFlags: 0x02 })
  answer(fin)
  const rst = fromInside({ ...H, srcPort: 6, tcpFlags: 0x02 })
  answer(rst)
  t.is(c().mappingsActive, 6)
  at(29)
  t.is(answer(lonely).verdict, 'inside') // unreplied (30 s) until now; replied: 120 s from here
  at(60)
  t.is(answer(lonely).verdict, 'inside')
  at(200)
  t.is(answer(lonely).verdict, 'drop')
  t.is(answer(chatty).verdict, 'drop')
  at(230)
  t.is(answer(est).verdict, 'inside')
  fromInside({ ...H, srcPort: 5, tcpFlags: 0x11 }) // FIN: 240 s from here
  fromInside({ ...H, srcPort: 6, tcpFlags: 0x04 }) // RST: 240 s from here
  at(241)
  t.is(answer(syn).verdict, 'drop') // never answered: transitory, 240 s
  at(469)
  t.is(answer(est).verdict, 'inside') // established: 7440 s
  t.is(answer(fin).verdict, 'inside')
  at(471)
  t.is(answer(rst).verdict, 'drop')
  at(710)
  t.is(answer(fin).verdict, 'drop')
  t.is(answer(est).verdict, 'inside')
  at(710 + 7441)
  t.is(answer(est).verdict, 'drop')
  t.is(c().mappingsActive, 0)
  t.is(c().sessionsExpired, 6)
})

test('the sweep expires mappings nobody asks about', t => {
  const { fromInside, at, c } = natOf({ timeouts: { udpUnreplied: 1 } })
  for (let i = 0; i < 100; i++) fromInside({ ...H, proto: 'udp', srcPort: 1000 + i })
  t.is(c().mappingsActive, 100)
  at(1) // they expire: this tick and the next 29 (to 3.9 s) may sweep them, the whole table taking 20
  at(3.9)
  t.is(c().mappingsActive, 0)
  t.is(c().sessionsExpired, 100)
})

test('at rest, idle() sweeps the whole table at once and asks to be called when the next session expires', t => {
  // A tick a second sweeps five entries of the hundred here.
  const { h, fromInside, at, c } = natOf({ maxMappings: 100, timeouts: { udpUnreplied: 5 } }, { tickMs: 1000 })
  for (let i = 0; i < 50; i++) fromInside({ ...H, proto: 'udp', srcPort: 1000 + i }) // expire at 5 s
  at(3)
  fromInside({ ...H, proto: 'udp', srcPort: 2000 }) // at 8 s
  at(4)
  t.is(h.idle(), 1000)
  at(5)
  t.true(c().mappingsActive > 40, `ticks swept a few: ${c().mappingsActive} left`)
  t.is(h.idle(), 3000, 'idle() swept the rest: the one left is due at 8 s')
  t.deepEqual([c().mappingsActive, c().sessionsExpired], [1, 50])
  at(8)
  t.is(h.idle(), Infinity, 'nothing left: no call needed until a packet comes')
  t.deepEqual([c().mappingsActive, c().sessionsExpired], [0, 51])
})

test('idle() asks again no sooner than a second and no later than ten (so the clock a restart resumes from is never older)', t => {
  const { h, fromInside, at } = natOf({ timeouts: { udpUnreplied: 5, tcpTransitory: 600 } }, { tickMs: 1e9 })
  fromInside({ ...H, proto: 'udp', srcPort: 1000 }) // expires at 5 s
  fromInside({ ...H, srcPort: 1001, tcpFlags: 0x02 }) // a SYN: at 600 s
  at(4.8)
  t.is(h.idle(), 1000)
  at(5)
  t.is(h.idle(), 10_000)
})

test('exhaustion: new flows dropped and counted, old ones keep working, ports come back after expiry', t => {
  const { fromInside, answer, at, c } = natOf({ ports: [20000, 20003], timeouts: { udp: 10, udpUnreplied: 10 } })
  const flows = [1, 2, 3, 4].map(i => fromInside({ ...H, proto: 'udp', srcPort: i }))
  for (const p of flows) t.is(p.verdict, 'outside')
  t.deepEqual(flows.map(p => headers(p.frame).srcPort).sort(), [20000, 20001, 20002, 20003])
  t.is(fromInside({ ...H, proto: 'udp', srcPort: 5 }).verdict, 'drop')
  t.is(fromInside({ ...H, proto: 'udp', srcPort: 6 }).verdict, 'drop')
  t.is(c()['drop/portsExhausted'], 2)
  // Old flows, both ways.
  t.is(fromInside({ ...H, proto: 'udp', srcPort: 3 }).verdict, 'outside')
  t.is(answer(flows[0]).verdict, 'inside')
  // TCP has its own range.
  t.is(fromInside({ ...H, srcPort: 5 }).verdict, 'outside')
  // After expiry the ports are reused.
  at(11)
  const again = fromInside({ ...H, proto: 'udp', srcPort: 5 })
  t.is(again.verdict, 'outside')
  t.true([20000, 20001, 20002, 20003].includes(headers(again.frame).srcPort))
  t.is(answer(flows[1]).verdict, 'drop') // its mapping is gone
})

test('many flows: 20,000 concurrent mappings, all distinct, all replies come back', t => {
  const { fromInside, answer, c } = natOf({ ports: [10000, 39999] })
  const seen = new Set<number>()
  const out = []
  for (let i = 0; i < 20000; i++) {
    const p = fromInside({ src: `10.0.${i >> 8}.${i & 255}`, dst: '198.51.100.9', proto: i & 1 ? 'udp' : 'tcp', srcPort: 1024 + (i % 3), dstPort: 443 })
    t.is(p.verdict, 'outside')
    seen.add(headers(p.frame).srcPort * 2 + (i & 1))
    out.push(p)
  }
  t.is(seen.size, 20000)
  for (let i = 0; i < out.length; i += 7) {
    const r = answer(out[i])
    t.is(r.verdict, 'inside')
    t.is(formatIpv4(headers(r.frame).dst), `10.0.${i >> 8}.${i & 255}`)
  }
  t.is(c().mappingsActive, 20000)
})

test('what passes untouched, what is dropped', t => {
  const { h: n, fromInside, fromOutside, c } = natOf()
  const notInside = fromInside({ src: '192.168.1.1', dst: '198.51.100.9' })
  t.is(notInside.verdict, 'outside')
  t.is(formatIpv4(headers(notInside.frame).src), '192.168.1.1')
  const routed = fromOutside({ src: '198.51.100.9', dst: '10.0.0.2' })
  t.is(routed.verdict, 'inside')
  t.is(formatIpv4(headers(routed.frame).dst), '10.0.0.2')
  t.is(n.send(arpFrame(), { from: LAN }).verdict, 'outside')
  t.is(n.send(arpFrame(), { from: WAN }).verdict, 'inside')
  t.is(fromInside({ ...H, proto: 'udp', fragOffset: 10, rawL4: new Uint8Array(8) }).verdict, 'drop')
  t.is(fromInside({ ...H, proto: 47, payload: 8 }).verdict, 'drop')
  t.is(fromOutside({ src: '198.51.100.9', dst: EXT, dstPort: 30000 }).verdict, 'drop')
  t.is(n.send(ipv4Frame({ ...H }).slice(0, 40), { from: LAN }).verdict, 'drop')
  t.like(c(), { passed: 2, nonIp: 2, 'drop/fragment': 1, 'drop/unsupported': 1, 'drop/noMapping': 1, 'drop/malformed': 1, mappingsActive: 0 })
})

function icmpChecksumOk(b: Uint8Array, h: Headers): boolean {
  return checksumOf(b, h.l4, h.l3End - h.l4, 0) === 0
}

test('ICMP errors about a session are translated, quote and all (RFC 5508)', t => {
  const { fromInside, fromOutside } = natOf()
  const p = fromInside({ ...H, proto: 'udp', srcPort: 4444, dstPort: 33434, payload: 12 })
  const sent = p.frame.slice(14, 14 + 40)
  const err = fromOutside({ src: '192.0.2.254', dst: EXT, proto: 'icmp', icmpType: 3, icmpCode: 4, icmpId: 0, payload: sent })
  t.is(err.verdict, 'inside')
  const e = err.frame
  const h = headers(e)
  t.is(formatIpv4(h.dst), '10.0.0.2')
  t.true(ipv4ChecksumOk(e, h.l3))
  t.true(icmpChecksumOk(e, h))
  const q = new Headers()
  t.true(parseQuoted(e, h.l4 + 8, h.l3End, q))
  t.is(formatIpv4(q.src), '10.0.0.2')
  t.is(q.srcPort, 4444)
  t.is(q.dstPort, 33434)
  t.is(get16(e, q.l3 + 10), ipv4ComputeChecksum(e, q.l3))
  // The quote is now the packet as the inside host sent it, checksums included.
  const original = ipv4Frame({ ...H, proto: 'udp', srcPort: 4444, dstPort: 33434, payload: 12 }).slice(14)
  t.deepEqual(e.slice(q.l3, q.l3 + 40), original)
  // An error about nothing of ours is dropped.
  const other = fromOutside({ src: '192.0.2.254', dst: EXT, proto: 'icmp', icmpType: 3, icmpId: 0, payload: ipv4Frame({ src: EXT, dst: '198.51.100.9', proto: 'udp', srcPort: 1, dstPort: 2 }).slice(14) })
  t.is(other.verdict, 'drop')
})

test('ICMP errors from a forwarded inside host go out translated', t => {
  const { fromInside, fromOutside } = natOf({ forwards: [{ proto: 'udp', port: 5000, to: '10.0.0.5:5001' }] })
  const p = fromOutside({ src: '198.51.100.7', dst: EXT, proto: 'udp', srcPort: 999, dstPort: 5000, payload: 4 })
  const got = p.frame.slice(14, 14 + 32)
  const err = fromInside({ src: '10.0.0.5', dst: '198.51.100.7', proto: 'icmp', icmpType: 3, icmpCode: 3, icmpId: 0, payload: got })
  t.is(err.verdict, 'outside')
  const e = err.frame
  const h = headers(e)
  t.is(formatIpv4(h.src), EXT)
  t.true(ipv4ChecksumOk(e, h.l3))
  t.true(icmpChecksumOk(e, h))
  const q = new Headers()
  t.true(parseQuoted(e, h.l4 + 8, h.l3End, q))
  t.is(formatIpv4(q.dst), EXT)
  t.is(q.dstPort, 5000)
  t.deepEqual(e.slice(q.l3, q.l3 + 32), ipv4Frame({ src: '198.51.100.7', dst: EXT, proto: 'udp', srcPort: 999, dstPort: 5000, payload: 4 }).slice(14))
})

test('without an inside prefix every inside source is masqueraded', t => {
  const h = harness(nat, { external: EXT }, { gates: { inside: LAN, outside: WAN } })
  const p = h.send(ipv4Frame({ src: '192.168.7.7', dst: '198.51.100.9' }), { from: LAN })
  t.is(p.verdict, 'outside')
  t.is(formatIpv4(headers(p.frame).src), EXT)
  t.is(parseIpv4(EXT), headers(p.frame).src)
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
    const e = t.throws(() => harness(nat, cfg as never, { schema: false }), { instanceOf: NFConfigError }, JSON.stringify(cfg))
    t.is(e?.path, path, JSON.stringify(cfg))
  }
})

test('filtering is address- and port-dependent, as Linux conntrack: only the remote endpoint a session went to gets in', t => {
  const { fromInside, fromOutside } = natOf()
  const p = fromInside({ ...H, proto: 'udp', srcPort: 5000, dstPort: 3478 })
  const ext = headers(p.frame).srcPort
  const to = (src: string, srcPort: number) => fromOutside({ src, dst: EXT, proto: 'udp', srcPort, dstPort: ext }).verdict
  t.is(to('198.51.100.9', 3478), 'inside')
  t.is(to('198.51.100.9', 3479), 'drop') // same host, another port
  t.is(to('198.51.100.77', 3478), 'drop') // another host
  // Once the inside endpoint talks to that other host, it gets in, through the same mapping.
  const q = fromInside({ ...H, dst: '198.51.100.77', proto: 'udp', srcPort: 5000, dstPort: 3478 })
  t.is(headers(q.frame).srcPort, ext)
  t.is(to('198.51.100.77', 3478), 'inside')
})

test('a mapping lives while any of its sessions does, and its port returns to the range with the last', t => {
  const { fromInside, at, c } = natOf({ ports: [20000, 20000], timeouts: { udp: 10, udpUnreplied: 10 } })
  const send = (dst: string, srcPort = 5000, src = '10.0.0.2') => {
    const p = fromInside({ src, dst, proto: 'udp', srcPort, dstPort: 53 })
    return p.verdict === 'drop' ? -1 : headers(p.frame).srcPort
  }
  t.is(send('198.51.100.1'), 20000)
  at(6)
  t.is(send('198.51.100.2'), 20000) // a second session on the one port of the range
  t.is(send('198.51.100.1', 5001), -1) // another endpoint: the range is used up
  at(11) // the first session expired; the second keeps the mapping
  t.is(send('198.51.100.1', 5001), -1)
  t.is(c().mappingsActive, 1)
  at(17) // the last session expired: the port is free for another endpoint
  t.is(send('198.51.100.1', 5001, '10.0.0.3'), 20000)
})

test('hairpinning: an inside host reaches a port forward through the external address, and the reply comes back the same way (RFC 4787 REQ-9)', t => {
  const { fromInside, c } = natOf({ forwards: [{ proto: 'tcp', port: 8080, to: '10.0.0.5:80' }] })
  const p = fromInside({ src: '10.0.0.3', dst: EXT, srcPort: 5555, dstPort: 8080, tcpFlags: 0x02, payload: 20 })
  t.is(p.verdict, 'inside')
  const h = headers(p.frame)
  // The server sees the request from the external address, so its reply goes to the NAT.
  t.is(formatIpv4(h.src), EXT)
  t.true(h.srcPort >= 20000)
  t.is(formatIpv4(h.dst), '10.0.0.5')
  t.is(h.dstPort, 80)
  t.true(checksumsOk(p.frame))
  const reply = fromInside({ src: '10.0.0.5', dst: EXT, srcPort: 80, dstPort: h.srcPort, tcpFlags: 0x12, payload: 20 })
  t.is(reply.verdict, 'inside')
  const rh = headers(reply.frame)
  t.deepEqual([formatIpv4(rh.src), rh.srcPort, formatIpv4(rh.dst), rh.dstPort], [EXT, 8080, '10.0.0.3', 5555])
  t.true(checksumsOk(reply.frame))
  t.is(c().hairpinned, 2)
})
