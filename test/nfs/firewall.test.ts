import test from 'ava'
import firewall, { type FirewallConfig, type FirewallRule } from '../../src/nfs/firewall/index.ts'
import { DROP, NFConfigError } from '../../src/xio/nf-types.ts'
import { arpFrame, ipv4Frame, ipv6Frame, packetOf, type FrameSpec } from '../packet/craft.ts'
import { TestEnv } from './env.ts'

const OUT = 0
const env = () => new TestEnv({ lan: 1, wan: 2, dmz: 7 })

/** Verdict of a one-rule firewall (default the opposite of the rule's action) on a packet. */
function verdict(rule: Omit<FirewallRule, 'action'>, spec: FrameSpec, inPort = 0): boolean {
  const nf = firewall.create({ default: 'drop', rules: [{ action: 'allow', ...rule }] }, env())
  return nf.process(packetOf(ipv4Frame(spec), { inPort })) === OUT
}

test('gates', t => t.deepEqual([...firewall.gates], ['out']))

test('proto: names and numbers', t => {
  t.true(verdict({ proto: 'tcp' }, { proto: 'tcp' }))
  t.false(verdict({ proto: 'tcp' }, { proto: 'udp' }))
  t.true(verdict({ proto: 'udp' }, { proto: 'udp' }))
  t.true(verdict({ proto: 'icmp' }, { proto: 'icmp' }))
  t.false(verdict({ proto: 'icmp' }, { proto: 'tcp' }))
  t.true(verdict({ proto: 47 }, { proto: 47, payload: 8 }))
  t.false(verdict({ proto: 47 }, { proto: 50, payload: 8 }))
  t.true(verdict({ proto: 6 }, { proto: 'tcp' }))
})

test('src/dst: address, CIDR edges, lists, /0 and /32', t => {
  t.true(verdict({ src: '10.1.2.3' }, { src: '10.1.2.3' }))
  t.false(verdict({ src: '10.1.2.3' }, { src: '10.1.2.4' }))
  for (const [a, ok] of [['10.1.1.255', false], ['10.1.2.0', true], ['10.1.3.255', true], ['10.1.4.0', false]] as const) {
    t.is(verdict({ dst: '10.1.2.0/23' }, { dst: a }), ok, a)
  }
  t.true(verdict({ dst: '0.0.0.0/0' }, { dst: '255.255.255.255' }))
  t.true(verdict({ dst: '0.0.0.0/0' }, { dst: '0.0.0.0' }))
  t.true(verdict({ src: '255.255.255.255/32' }, { src: '255.255.255.255' }))
  t.false(verdict({ src: '255.255.255.255/32' }, { src: '255.255.255.254' }))
  t.true(verdict({ src: '128.0.0.0/1' }, { src: '200.0.0.1' }))
  t.false(verdict({ src: '128.0.0.0/1' }, { src: '127.255.255.255' }))
  t.true(verdict({ src: '0.0.0.0/1' }, { src: '127.255.255.255' }))
  const list: Omit<FirewallRule, 'action'> = { src: ['192.168.0.0/16', '172.16.0.0/12', '10.0.0.1'] }
  t.true(verdict(list, { src: '172.31.255.255' }))
  t.false(verdict(list, { src: '172.32.0.0' }))
  t.true(verdict(list, { src: '10.0.0.1' }))
  t.false(verdict(list, { src: '10.0.0.2' }))
  t.true(verdict({ src: '10.0.0.0/8', dst: '192.0.2.0/24' }, { src: '10.9.9.9', dst: '192.0.2.200' }))
  t.false(verdict({ src: '10.0.0.0/8', dst: '192.0.2.0/24' }, { src: '11.0.0.0', dst: '192.0.2.200' }))
})

test('ports: single, range edges, lists, both directions', t => {
  t.true(verdict({ dstPort: 443 }, { dstPort: 443 }))
  t.false(verdict({ dstPort: 443 }, { dstPort: 444 }))
  for (const [p, ok] of [[1023, false], [1024, true], [2000, true], [65535, true]] as const) {
    t.is(verdict({ dstPort: '1024-65535' }, { proto: 'udp', dstPort: p }), ok, String(p))
  }
  for (const [p, ok] of [[0, true], [1, false]] as const) t.is(verdict({ srcPort: 0 }, { srcPort: p }), ok)
  for (const [p, ok] of [[79, false], [80, true], [81, false], [442, false], [443, true], [8000, true], [8080, true], [8081, false]] as const) {
    t.is(verdict({ proto: 'tcp', dstPort: [80, '443-443', '8000-8080'] }, { dstPort: p }), ok, String(p))
  }
  // A list is always a list: [80, 443] is those two ports, never the ports between them.
  t.true(verdict({ dstPort: [80, 443] }, { dstPort: 443 }))
  t.true(verdict({ dstPort: [80, 443] }, { dstPort: 80 }))
  t.false(verdict({ dstPort: [80, 443] }, { dstPort: 200 }))
  t.true(verdict({ srcPort: '1024-2048', dstPort: 53 }, { proto: 'udp', srcPort: 2048, dstPort: 53 }))
  t.false(verdict({ srcPort: '1024-2048', dstPort: 53 }, { proto: 'udp', srcPort: 2049, dstPort: 53 }))
})

test('ports never match ICMP or other protocols', t => {
  t.false(verdict({ dstPort: '0-65535' }, { proto: 'icmp' }))
  t.false(verdict({ srcPort: '0-65535' }, { proto: 47, payload: 8 }))
})

test('in: ingress endpoint names, and lists', t => {
  t.true(verdict({ in: 'lan' }, {}, 1))
  t.false(verdict({ in: 'lan' }, {}, 2))
  t.false(verdict({ in: 'lan' }, {}, 99))
  t.true(verdict({ in: ['wan', 'dmz'] }, {}, 7))
  t.false(verdict({ in: ['wan', 'dmz'] }, {}, 1))
})

test('first match wins; default policy otherwise', t => {
  const cfg: FirewallConfig = {
    default: 'allow',
    rules: [
      { action: 'allow', proto: 'tcp', src: '10.0.0.5' },
      { action: 'drop', proto: 'tcp', src: '10.0.0.0/24' },
      { action: 'allow', proto: 'tcp', src: '10.0.0.0/16', dstPort: 22 },
      { action: 'drop', src: '10.0.0.0/8' },
    ],
  }
  const nf = firewall.create(cfg, env())
  const v = (s: FrameSpec) => nf.process(packetOf(ipv4Frame(s)))
  t.is(v({ src: '10.0.0.5' }), OUT)
  t.is(v({ src: '10.0.0.6' }), DROP)
  t.is(v({ src: '10.0.1.6', dstPort: 22 }), OUT)
  t.is(v({ src: '10.0.1.6', dstPort: 23 }), DROP)
  t.is(v({ src: '11.0.0.1' }), OUT)
  const c = nf.counters!()
  t.is(c['rules/0/packets'], 1)
  t.is(c['rules/1/packets'], 1)
  t.is(c['rules/2/packets'], 1)
  t.is(c['rules/3/packets'], 1)
  t.is(c.defaultPackets, 1)
  t.is(c['rules/0/bytes'], ipv4Frame({ src: '10.0.0.5' }).length)
  t.is(firewall.create({ default: 'drop' }, env()).process(packetOf(ipv4Frame())), DROP)
  t.is(firewall.create({}, env()).process(packetOf(ipv4Frame())), OUT)
})

test('the flow cache gives the same answers as the classifier, counters keep counting', t => {
  const nf = firewall.create({ default: 'drop', rules: [{ action: 'allow', dstPort: 80 }] }, env())
  for (let i = 0; i < 5; i++) {
    t.is(nf.process(packetOf(ipv4Frame({ dstPort: 80 }))), OUT)
    t.is(nf.process(packetOf(ipv4Frame({ dstPort: 81 }))), DROP)
  }
  const c = nf.counters!()
  t.is(c['rules/0/packets'], 5)
  t.is(c.defaultPackets, 5)
  t.is(c.cacheMisses, 2)
  t.is(c.cacheHits, 8)
})

test('non-first fragments never match port constraints; first fragments do', t => {
  const rules: FirewallRule[] = [{ action: 'allow', proto: 'udp', dstPort: 53 }]
  const nf = firewall.create({ default: 'drop', rules }, env())
  t.is(nf.process(packetOf(ipv4Frame({ proto: 'udp', dstPort: 53, mf: true, payload: 32 }))), OUT)
  t.is(nf.process(packetOf(ipv4Frame({ proto: 'udp', fragOffset: 5, rawL4: new Uint8Array(16) }))), DROP)
  // A rule without ports still matches them.
  const any = firewall.create({ default: 'drop', rules: [{ action: 'allow', proto: 'udp', dst: '192.0.2.0/24' }] }, env())
  t.is(any.process(packetOf(ipv4Frame({ proto: 'udp', fragOffset: 5, rawL4: new Uint8Array(16) }))), OUT)
  // ... and a drop rule with ports does not catch them either.
  const d = firewall.create({ default: 'allow', rules: [{ action: 'drop', dstPort: '0-65535' }] }, env())
  t.is(d.process(packetOf(ipv4Frame({ proto: 'tcp', fragOffset: 20, rawL4: new Uint8Array(16) }))), OUT)
})

test('VLAN-tagged packets are classified on their IPv4 header', t => {
  t.true(verdict({ proto: 'tcp', dstPort: 22 }, { vlan: [10], dstPort: 22 }))
  t.false(verdict({ proto: 'tcp', dstPort: 22 }, { vlan: [10, 20], qinq: true, dstPort: 23 }))
})

test('non-IP frames follow the nonIp policy; IPv6 follows the default, as a drop policy means', t => {
  const open = firewall.create({ default: 'drop' }, env())
  t.is(open.process(packetOf(arpFrame())), OUT)
  // A "drop everything but SSH" set: IPv6 TCP/22 does not slip through (rules match IPv4 only).
  const onlySsh = firewall.create({ default: 'drop', rules: [{ action: 'allow', proto: 'tcp', dstPort: 22 }] }, env())
  t.is(onlySsh.process(packetOf(ipv6Frame({ nextHeader: 6 }))), DROP)
  t.is(onlySsh.counters!().ipv6Dropped, 1)
  const shut = firewall.create({ default: 'allow', nonIp: 'drop' }, env())
  t.is(shut.process(packetOf(arpFrame())), DROP)
  t.is(shut.process(packetOf(ipv4Frame())), OUT)
  t.is(shut.process(packetOf(ipv6Frame())), OUT, 'IPv6 is IP: the default (allow) decides, not nonIp')
  t.is(shut.counters!().nonIpDropped, 1)
  t.is(shut.counters!().ipv6Allowed, 1)
  t.is(open.counters!().nonIpAllowed, 1)
})

test('a drop policy that leaves nonIp to its default is warned about; an explicit choice is not', t => {
  const said: string[] = []
  const warnEnv = Object.assign(env(), { warn: (path: string, message: string) => void said.push(`${path}: ${message}`) })
  firewall.create({ default: 'drop' }, warnEnv)
  t.is(said.length, 1)
  t.regex(said[0], /^\/nonIp: .*still lets ARP and other non-IP frames through/)
  firewall.create({ default: 'drop', nonIp: 'allow' }, warnEnv)
  firewall.create({ default: 'allow' }, warnEnv)
  t.is(said.length, 1)
})

test('malformed and truncated frames are counted and dropped', t => {
  const nf = firewall.create({ default: 'allow' }, env())
  const f = ipv4Frame({ proto: 'tcp' })
  t.is(nf.process(packetOf(f.slice(0, 10))), DROP)
  t.is(nf.process(packetOf(f.slice(0, 30))), DROP)
  t.is(nf.process(packetOf(f.slice(0, f.length - 1))), DROP)
  const bad = f.slice()
  bad[14] = 0x43
  t.is(nf.process(packetOf(bad)), DROP)
  t.is(nf.process(packetOf(arpFrame().slice(0, 20))), DROP)
  t.is(nf.counters!().malformed, 5)
})

test('config errors name the JSON path', t => {
  const bad: Array<[unknown, string]> = [
    [{ rules: [{ action: 'allow' }, { action: 'allow' }, { action: 'allow', dstPort: 70000 }] }, '/rules/2/dstPort'],
    [{ rules: [{ action: 'allow', dstPort: '443-80' }] }, '/rules/0/dstPort'],
    [{ rules: [{ action: 'allow', dstPort: [22, '443-80'] }] }, '/rules/0/dstPort/1'],
    [{ rules: [{ action: 'allow', dstPort: [22, [443, 450]] }] }, '/rules/0/dstPort/1'],
    [{ rules: [{ action: 'allow', src: '10.0.0.0/33' }] }, '/rules/0/src'],
    [{ rules: [{ action: 'allow', src: '10.0.0.1/8' }] }, '/rules/0/src'],
    [{ rules: [{ action: 'allow', dst: ['10.0.0.0/8', 'x'] }] }, '/rules/0/dst/1'],
    [{ rules: [{ action: 'permit' }] }, '/rules/0/action'],
    [{ rules: [{}] }, '/rules/0/action'],
    [{ rules: [{ action: 'allow', proto: 'sctp' }] }, '/rules/0/proto'],
    [{ rules: [{ action: 'allow', proto: 'icmp', dstPort: 1 }] }, '/rules/0/dstPort'],
    [{ rules: [{ action: 'allow', in: 'nowhere' }] }, '/rules/0/in'],
    [{ rules: [{ action: 'allow', in: ['lan', 3] }] }, '/rules/0/in/1'],
    [{ rules: [{ action: 'allow', dst_port: 1 }] }, '/rules/0/dst_port'],
    [{ default: 'accept' }, '/default'],
    [{ nonIp: 'yes' }, '/nonIp'],
    [{ stateful: 'yes' }, '/stateful'],
    [{ timeouts: { udp: -1 } }, '/timeouts/udp'],
    [{ rules: {} }, '/rules'],
  ]
  for (const [cfg, path] of bad) {
    const e = t.throws(() => firewall.create(cfg as FirewallConfig, env()), { instanceOf: NFConfigError }, JSON.stringify(cfg))
    t.is(e?.path, path, JSON.stringify(cfg))
  }
})

// Stateful mode.

const LAN = { src: '10.0.0.2', dst: '198.51.100.9' }
const WAN = { src: '198.51.100.9', dst: '10.0.0.2' }
const outboundOnly: FirewallConfig = {
  default: 'drop', stateful: true,
  rules: [{ action: 'allow', src: '10.0.0.0/8' }],
}

test('stateful: replies of allowed flows pass, others do not', t => {
  const e = env()
  const nf = firewall.create(outboundOnly, e)
  const rx = (s: FrameSpec) => nf.process(packetOf(ipv4Frame(s)))
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 40000 }), DROP) // unsolicited
  t.is(rx({ ...LAN, srcPort: 40000, dstPort: 80, tcpFlags: 0x02 }), OUT)
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 40000, tcpFlags: 0x12 }), OUT)
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 40001 }), DROP) // another port
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 80, dstPort: 40000 }), DROP) // another protocol
  t.is(rx({ ...LAN, proto: 'udp', srcPort: 5353, dstPort: 53 }), OUT)
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 5353 }), OUT)
  t.is(rx({ ...LAN, proto: 'icmp', icmpType: 8, icmpId: 77 }), OUT)
  t.is(rx({ ...WAN, proto: 'icmp', icmpType: 0, icmpId: 77 }), OUT)
  t.is(rx({ ...WAN, proto: 'icmp', icmpType: 0, icmpId: 78 }), DROP)
  t.is(rx({ ...WAN, proto: 'icmp', icmpType: 8, icmpId: 77 }), OUT) // same id, either way
  const c = nf.counters!()
  t.is(c.established, 4)
  t.is(c.conntrackActive, 3)
})

test('stateful: flows expire after their timeout; FIN and RST shorten it', t => {
  const e = env()
  const nf = firewall.create({ ...outboundOnly, timeouts: { tcpEstablished: 100, tcpTransitory: 10, udp: 50, udpUnreplied: 5 } }, e)
  const rx = (s: FrameSpec) => nf.process(packetOf(ipv4Frame(s)))
  const at = (s: number) => nf.tick!((e.time = 1_000_000 + s * 1000))
  rx({ ...LAN, srcPort: 1, dstPort: 80, tcpFlags: 0x02 })
  rx({ ...WAN, srcPort: 80, dstPort: 1, tcpFlags: 0x12 }) // established: 100 s
  rx({ ...LAN, proto: 'udp', srcPort: 2, dstPort: 53 }) // unreplied: 5 s
  rx({ ...LAN, proto: 'udp', srcPort: 3, dstPort: 53 })
  rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 3 }) // replied: 50 s
  at(6)
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 2 }), DROP)
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 3 }), OUT)
  at(60)
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 1 }), OUT)
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 3 }), DROP)
  rx({ ...LAN, srcPort: 1, dstPort: 80, tcpFlags: 0x11 }) // FIN: transitory 10 s
  at(65)
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 1, tcpFlags: 0x10 }), OUT)
  at(80)
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 1, tcpFlags: 0x10 }), DROP)
  // The sweep frees entries nobody asks about again.
  rx({ ...LAN, srcPort: 9, dstPort: 80 })
  t.is(nf.counters!().conntrackActive, 1)
  for (let s = 200; s < 240; s++) at(s)
  t.is(nf.counters!().conntrackActive, 0)
})

test('stateful: ICMP errors about a tracked flow are related', t => {
  const nf = firewall.create(outboundOnly, env())
  nf.process(packetOf(ipv4Frame({ ...LAN, proto: 'udp', srcPort: 5000, dstPort: 33434 })))
  const quote = (srcPort: number) =>
    ipv4Frame({ ...LAN, proto: 'udp', srcPort, dstPort: 33434, payload: 12 }).slice(14, 14 + 28)
  const err = (srcPort: number) =>
    ipv4Frame({ src: '192.0.2.254', dst: '10.0.0.2', proto: 'icmp', icmpType: 11, icmpId: 0, payload: quote(srcPort) })
  t.is(nf.process(packetOf(err(5000))), OUT)
  t.is(nf.process(packetOf(err(5001))), DROP)
  t.is(nf.counters!().related, 1)
})

test('stateful: later fragments follow an allowed first fragment', t => {
  const nf = firewall.create({ default: 'drop', stateful: true, rules: [{ action: 'allow', proto: 'udp', dstPort: 53 }] }, env())
  const frag = { ...LAN, proto: 'udp' as const, id: 99 }
  t.is(nf.process(packetOf(ipv4Frame({ ...frag, fragOffset: 3, rawL4: new Uint8Array(8) }))), DROP)
  t.is(nf.process(packetOf(ipv4Frame({ ...frag, dstPort: 53, mf: true, payload: 16 }))), OUT)
  t.is(nf.process(packetOf(ipv4Frame({ ...frag, fragOffset: 3, rawL4: new Uint8Array(8) }))), OUT)
  t.is(nf.process(packetOf(ipv4Frame({ ...frag, id: 100, fragOffset: 3, rawL4: new Uint8Array(8) }))), DROP)
})

test('stateful: a full table lets flows through untracked, and counts them', t => {
  const nf = firewall.create({ ...outboundOnly, conntrackSize: 2 }, env())
  for (let p = 1; p <= 3; p++) t.is(nf.process(packetOf(ipv4Frame({ ...LAN, srcPort: p }))), OUT)
  t.is(nf.process(packetOf(ipv4Frame({ ...WAN, dstPort: 2, srcPort: 80 }))), OUT)
  t.is(nf.process(packetOf(ipv4Frame({ ...WAN, dstPort: 3, srcPort: 80 }))), DROP)
  t.is(nf.counters!().conntrackFull, 1)
})
