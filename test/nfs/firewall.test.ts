import test from 'ava'
import firewall, { type FirewallConfig, type FirewallRule } from '../../src/nfs/firewall/index.ts'
import { NFConfigError } from '../../src/xio/nf-types.ts'
import { harness, type HarnessOptions } from '../../src/testing/index.ts'
import { arpFrame, ipv4Frame, ipv6Frame, type FrameSpec, type Ipv6FrameSpec } from '../../src/testing/frames.ts'

/** The clock's start: not 0, so an NF that takes 0 for "never" shows it. */
const T0 = 1_000_000
/** The firewall on the harness, in a chain whose endpoints `in` rules may name. It never holds packets: a few buffers do. */
const fw = (config: FirewallConfig, options: HarnessOptions = {}) =>
  harness(firewall, config, { endpoints: { lan: 1, wan: 2, dmz: 7 }, buffers: 4, now: T0, ...options })

/** Verdict of a one-rule firewall (default the opposite of the rule's action) on a packet. */
function verdict(rule: Omit<FirewallRule, 'action'>, spec: FrameSpec, inPort = 0): boolean {
  return fw({ default: 'drop', rules: [{ action: 'allow', ...rule }] }).send(ipv4Frame(spec), { inPort }).verdict === 'out'
}

/** verdict() for an IPv6 packet. */
function verdict6(rule: Omit<FirewallRule, 'action'>, spec: Ipv6FrameSpec, inPort = 0): boolean {
  return fw({ default: 'drop', rules: [{ action: 'allow', ...rule }] }).send(ipv6Frame(spec), { inPort }).verdict === 'out'
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
  const nf = fw(cfg)
  const v = (s: FrameSpec) => nf.send(ipv4Frame(s)).verdict
  t.is(v({ src: '10.0.0.5' }), 'out')
  t.is(v({ src: '10.0.0.6' }), 'drop')
  t.is(v({ src: '10.0.1.6', dstPort: 22 }), 'out')
  t.is(v({ src: '10.0.1.6', dstPort: 23 }), 'drop')
  t.is(v({ src: '11.0.0.1' }), 'out')
  const c = nf.counters()
  t.is(c['rules/0/packets'], 1)
  t.is(c['rules/1/packets'], 1)
  t.is(c['rules/2/packets'], 1)
  t.is(c['rules/3/packets'], 1)
  t.is(c.defaultPackets, 1)
  t.is(c['rules/0/bytes'], ipv4Frame({ src: '10.0.0.5' }).length)
  t.is(fw({ default: 'drop' }).send(ipv4Frame()).verdict, 'drop')
  t.is(fw({}).send(ipv4Frame()).verdict, 'out')
})

test('the flow cache gives the same answers as the classifier, counters keep counting', t => {
  const nf = fw({ default: 'drop', rules: [{ action: 'allow', dstPort: 80 }] })
  for (let i = 0; i < 5; i++) {
    t.is(nf.send(ipv4Frame({ dstPort: 80 })).verdict, 'out')
    t.is(nf.send(ipv4Frame({ dstPort: 81 })).verdict, 'drop')
  }
  const c = nf.counters()
  t.is(c['rules/0/packets'], 5)
  t.is(c.defaultPackets, 5)
  t.is(c.cacheMisses, 2)
  t.is(c.cacheHits, 8)
})

test('the flow cache keys IPv6 flows by prefix interval, apart from IPv4 flows with the same numbers', t => {
  const nf = fw({ default: 'drop', rules: [{ action: 'allow', proto: 'tcp', dst: '2001:db8::/32', dstPort: 80 }] })
  const v6 = (dst: string) => nf.send(ipv6Frame({ proto: 'tcp', src: '2001:db8:ffff::1', dst, srcPort: 1000, dstPort: 80 })).verdict
  t.is(v6('2001:db8::1'), 'out')
  t.is(v6('2001:db8:1234::99'), 'out') // the same interval: answered from the cache
  t.is(v6('2001:db9::1'), 'drop')
  // Interval indices are small numbers: src interval 0, dst interval 1, as this IPv4 packet's addresses.
  t.is(nf.send(ipv4Frame({ proto: 'tcp', src: '0.0.0.0', dst: '0.0.0.1', srcPort: 1000, dstPort: 80 })).verdict, 'drop')
  t.is(v6('2001:db8::2'), 'out')
  const c = nf.counters()
  t.deepEqual([c.cacheMisses, c.cacheHits], [3, 2])
  t.deepEqual([c['rules/0/packets'], c.defaultPackets], [3, 2])
})

test('non-first fragments never match port constraints; first fragments do', t => {
  const rules: FirewallRule[] = [{ action: 'allow', proto: 'udp', dstPort: 53 }]
  const nf = fw({ default: 'drop', rules })
  t.is(nf.send(ipv4Frame({ proto: 'udp', dstPort: 53, mf: true, payload: 32 })).verdict, 'out')
  t.is(nf.send(ipv4Frame({ proto: 'udp', fragOffset: 5, rawL4: new Uint8Array(16) })).verdict, 'drop')
  // A rule without ports still matches them.
  const any = fw({ default: 'drop', rules: [{ action: 'allow', proto: 'udp', dst: '192.0.2.0/24' }] })
  t.is(any.send(ipv4Frame({ proto: 'udp', fragOffset: 5, rawL4: new Uint8Array(16) })).verdict, 'out')
  // ... and a drop rule with ports does not catch them either.
  const d = fw({ default: 'allow', rules: [{ action: 'drop', dstPort: '0-65535' }] })
  t.is(d.send(ipv4Frame({ proto: 'tcp', fragOffset: 20, rawL4: new Uint8Array(16) })).verdict, 'out')
})

test('VLAN-tagged packets are classified on their IPv4 header', t => {
  t.true(verdict({ proto: 'tcp', dstPort: 22 }, { vlan: [10], dstPort: 22 }))
  t.false(verdict({ proto: 'tcp', dstPort: 22 }, { vlan: [10, 20], qinq: true, dstPort: 23 }))
})

test('non-IP frames follow the nonIp policy; IPv6 is IP: rules and the default decide it', t => {
  const open = fw({ default: 'drop' })
  t.is(open.send(arpFrame()).verdict, 'out')
  t.is(open.send(ipv6Frame()).verdict, 'drop')
  const shut = fw({ default: 'allow', nonIp: 'drop' })
  t.is(shut.send(arpFrame()).verdict, 'drop')
  t.is(shut.send(ipv4Frame()).verdict, 'out')
  t.is(shut.send(ipv6Frame()).verdict, 'out', 'the default (allow) decides IPv6, not nonIp')
  const other = ipv4Frame()
  other[12] = 0x88
  other[13] = 0xcc
  t.is(shut.send(other).verdict, 'drop')
  t.is(shut.counters()['drop/nonIp'], 2)
  t.is(shut.counters().ipv6Packets, 1)
  t.is(shut.counters().defaultPackets, 2)
  t.is(open.counters().nonIpAllowed, 1)
})

test('IPv6: an SSH-only "default drop" set lets TCP/22 in and nothing else, as an nftables inet chain', t => {
  const nf = fw({ default: 'drop', nonIp: 'allow', rules: [{ action: 'allow', proto: 'tcp', dstPort: 22 }] })
  const v = (s: Ipv6FrameSpec) => nf.send(ipv6Frame(s)).verdict
  t.is(v({ proto: 'tcp', dstPort: 22 }), 'out')
  t.is(v({ proto: 'tcp', dstPort: 23 }), 'drop')
  t.is(v({ proto: 'udp', dstPort: 22 }), 'drop')
  t.is(v({ proto: 'icmpv6', icmpType: 128 }), 'drop')
  t.is(nf.send(ipv4Frame({ proto: 'tcp', dstPort: 22 })).verdict, 'out')
  t.is(nf.send(ipv4Frame({ proto: 'tcp', dstPort: 23 })).verdict, 'drop')
  t.is(nf.send(arpFrame()).verdict, 'out')
  const c = nf.counters()
  t.is(c['rules/0/packets'], 2)
  t.is(c['rules/0/bytes'], ipv6Frame({ proto: 'tcp', dstPort: 22 }).length + ipv4Frame({ proto: 'tcp', dstPort: 22 }).length)
  t.is(c.defaultPackets, 4)
  t.is(c.ipv6Packets, 4)
})

test('IPv6 src/dst: prefixes, their edges, lists, ::/0 and /128; a rule of one family never matches the other', t => {
  for (const [a, ok] of [
    ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', false], ['2001:db8::', true], ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true], ['2001:db9::', false],
  ] as const) t.is(verdict6({ dst: '2001:db8::/32' }, { dst: a }), ok, a)
  for (const [a, ok] of [['fe80::1', true], ['febf:ffff::1', true], ['fec0::', false], ['fe7f::1', false]] as const) {
    t.is(verdict6({ src: 'fe80::/10' }, { src: a }), ok, a)
  }
  t.true(verdict6({ src: '::/0' }, { src: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' }))
  t.true(verdict6({ src: '::/0' }, { src: '::' }))
  t.true(verdict6({ src: '::1' }, { src: '::1' }))
  t.false(verdict6({ src: '::1' }, { src: '::2' }))
  t.true(verdict6({ src: '8000::/1' }, { src: 'c000::1' }))
  t.false(verdict6({ src: '8000::/1' }, { src: '7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' }))
  t.true(verdict6({ dst: '2001:db8:0:0:0:0:0:1/128' }, { dst: '2001:db8::1' }))
  t.false(verdict6({ dst: '2001:db8::1/128' }, { dst: '2001:db8::1:1' }))
  // Prefixes across word boundaries.
  t.true(verdict6({ dst: '2001:db8:1:2:8000::/65' }, { dst: '2001:db8:1:2:ffff::' }))
  t.false(verdict6({ dst: '2001:db8:1:2:8000::/65' }, { dst: '2001:db8:1:2:7fff::' }))
  t.true(verdict6({ dst: '::ffff:0:0/96' }, { dst: '::ffff:192.0.2.1' }))
  const list: Omit<FirewallRule, 'action'> = { src: ['2001:db8:a::/48', '2001:db8:b::5', 'fd00::/8'] }
  t.true(verdict6(list, { src: '2001:db8:a:ffff::9' }))
  t.true(verdict6(list, { src: '2001:db8:b::5' }))
  t.false(verdict6(list, { src: '2001:db8:b::6' }))
  t.true(verdict6(list, { src: 'fdff::1' }))
  t.true(verdict6({ src: '2001:db8::/32', dst: 'fd00::/8' }, { src: '2001:db8::9', dst: 'fd12::1' }))
  t.false(verdict6({ src: '2001:db8::/32', dst: 'fd00::/8' }, { src: '2001:db9::9', dst: 'fd12::1' }))
  // Families apart: ::/0 is every IPv6 address and no IPv4 one; 0.0.0.0/0 the reverse.
  t.false(verdict({ src: '::/0' }, {}))
  t.false(verdict6({ src: '0.0.0.0/0' }, {}))
  t.false(verdict6({ dst: '10.0.0.0/8', proto: 'tcp' }, { proto: 'tcp' }))
})

test('IPv6 protocols and ports: icmpv6 is IPv6\'s, icmp IPv4\'s; tcp, udp, numbers and ports match both', t => {
  t.true(verdict6({ proto: 'icmpv6' }, { proto: 'icmpv6' }))
  t.true(verdict6({ proto: 58 }, { proto: 'icmpv6' }))
  t.false(verdict({ proto: 'icmpv6' }, { proto: 'icmp' }))
  t.false(verdict({ proto: 58 }, { proto: 58, payload: 8 }))
  t.false(verdict6({ proto: 'icmp' }, { proto: 'icmpv6' }))
  t.false(verdict6({ proto: 1 }, { proto: 1, payload: 8 }))
  t.true(verdict6({ proto: 'udp', dstPort: 53 }, { proto: 'udp', dstPort: 53 }))
  t.false(verdict6({ proto: 'udp', dstPort: 53 }, { proto: 'tcp', dstPort: 53 }))
  t.true(verdict6({ dstPort: [80, '443-444'] }, { proto: 'tcp', dstPort: 444 }))
  t.false(verdict6({ dstPort: [80, '443-444'] }, { proto: 'tcp', dstPort: 445 }))
  t.true(verdict6({ srcPort: '1024-2048', dstPort: 53 }, { proto: 'udp', srcPort: 2048, dstPort: 53 }))
  t.false(verdict6({ srcPort: '1024-2048', dstPort: 53 }, { proto: 'udp', srcPort: 2049, dstPort: 53 }))
  t.false(verdict6({ dstPort: '0-65535' }, { proto: 'icmpv6' }))
  t.true(verdict6({ proto: 47 }, { proto: 47, payload: 8 }))
  t.true(verdict6({ proto: 50 }, { proto: 50, ext: [0], payload: 16 }))
  t.true(verdict6({ in: ['wan', 'dmz'] }, {}, 7))
  t.false(verdict6({ in: ['wan', 'dmz'] }, {}, 1))
  const v = fw({ default: 'drop', rules: [{ action: 'allow', proto: 'icmpv6', src: 'fe80::/10' }] })
  t.is(v.send(ipv6Frame({ proto: 'icmpv6', icmpType: 135, src: 'fe80::1', payload: 16 })).verdict, 'out')
  t.is(v.send(ipv6Frame({ proto: 'icmpv6', icmpType: 135, src: '2001:db8::1', payload: 16 })).verdict, 'drop')
})

test('first match wins across families; each rule counts its own packets', t => {
  const cfg: FirewallConfig = {
    default: 'allow',
    rules: [
      { action: 'allow', src: '2001:db8::5' },
      { action: 'drop', proto: 'tcp', dstPort: 22 },
      { action: 'allow', src: '10.0.0.0/8' },
      { action: 'drop', dst: '2001:db8:1::/48' },
      { action: 'allow', proto: 'tcp', dstPort: '20-30' },
      { action: 'drop', proto: 'tcp' },
    ],
  }
  const nf = fw(cfg)
  const v4 = (s: FrameSpec) => nf.send(ipv4Frame(s)).verdict
  const v6 = (s: Ipv6FrameSpec) => nf.send(ipv6Frame(s)).verdict
  t.is(v6({ src: '2001:db8::5', proto: 'tcp', dstPort: 22 }), 'out') // rule 0
  t.is(v6({ src: '2001:db8::6', proto: 'tcp', dstPort: 22 }), 'drop') // rule 1
  t.is(v4({ src: '10.0.0.1', dstPort: 22 }), 'drop') // rule 1
  t.is(v4({ src: '10.0.0.1', dstPort: 23 }), 'out') // rule 2
  t.is(v6({ dst: '2001:db8:1::9', proto: 'tcp', dstPort: 23 }), 'drop') // rule 3
  t.is(v6({ proto: 'tcp', dstPort: 23 }), 'out') // rule 4
  t.is(v4({ src: '11.0.0.1', dstPort: 23 }), 'out') // rule 4
  t.is(v6({ proto: 'tcp', dstPort: 80 }), 'drop') // rule 5
  t.is(v6({ proto: 'udp' }), 'out') // default
  const c = nf.counters()
  t.deepEqual([0, 1, 2, 3, 4, 5].map(i => c[`rules/${i}/packets`]), [1, 2, 1, 1, 2, 1])
  t.is(c.defaultPackets, 1)
})

test('IPv6 extension headers before TCP or UDP: the rules still see the ports', t => {
  const rule = { proto: 'tcp' as const, dstPort: 22 }
  for (const ext of [[0], [60], [43], [51], [0, 60, 43, 51], [44]]) {
    t.true(verdict6(rule, { proto: 'tcp', dstPort: 22, ext }), JSON.stringify(ext))
    t.false(verdict6(rule, { proto: 'tcp', dstPort: 23, ext }), JSON.stringify(ext))
  }
  t.true(verdict6({ proto: 'udp', dstPort: 53 }, { proto: 'udp', dstPort: 53, ext: [0, 60] }))
  // A first fragment behind a Hop-by-Hop header still has its ports.
  t.true(verdict6(rule, { proto: 'tcp', dstPort: 22, ext: [0, 44], mf: true, payload: 40 }))
})

test('a non-first IPv6 fragment never matches a port rule; a rule without ports does', t => {
  const later = { proto: 'tcp' as const, fragOffset: 5, rawL4: new Uint8Array(16) }
  t.false(verdict6({ proto: 'tcp', dstPort: '0-65535' }, later))
  t.true(verdict6({ proto: 'tcp', dst: '2001:db8::/32' }, later))
  const d = fw({ default: 'allow', rules: [{ action: 'drop', dstPort: '0-65535' }] })
  t.is(d.send(ipv6Frame(later)).verdict, 'out')
  t.is(d.send(ipv6Frame({ proto: 'udp', dstPort: 1 })).verdict, 'drop')
})

test('a drop policy that leaves nonIp to its default is warned about; an explicit choice is not', t => {
  const said = fw({ default: 'drop' }).warnings
  t.is(said.length, 1)
  t.is(said[0].path, '/nonIp')
  t.regex(said[0].message, /still lets ARP and other non-IP frames through/)
  t.deepEqual(fw({ default: 'drop', nonIp: 'allow' }).warnings, [])
  t.deepEqual(fw({ default: 'allow' }).warnings, [])
})

test('every drop is counted under its reason: each drop rule, the default policy, later fragments, non-IP, malformed', t => {
  const nf = fw({ default: 'drop', nonIp: 'drop', rules: [{ action: 'allow', proto: 'tcp' }, { action: 'drop', proto: 'udp', dstPort: 53 }, { action: 'allow', proto: 'udp', dstPort: 443 }] })
  t.is(nf.send(ipv4Frame({ proto: 'udp', dstPort: 53 })).verdict, 'drop')
  // The rest of a UDP/443 datagram: no ports, so only the default policy can decide it.
  t.is(nf.send(ipv4Frame({ proto: 'udp', fragOffset: 185, rawL4: new Uint8Array(16) })).verdict, 'drop')
  t.is(nf.send(ipv6Frame({ proto: 'udp', fragOffset: 185, rawL4: new Uint8Array(16) })).verdict, 'drop')
  // A later TCP fragment matches the port-less tcp rule, as in nftables without reassembly.
  t.is(nf.send(ipv4Frame({ proto: 'tcp', fragOffset: 185, rawL4: new Uint8Array(16) })).verdict, 'out')
  t.is(nf.send(ipv4Frame({ proto: 'udp', dstPort: 54 })).verdict, 'drop')
  t.is(nf.send(ipv4Frame({ proto: 'udp', dstPort: 54 })).verdict, 'drop')
  t.is(nf.send(ipv4Frame({ proto: 'tcp' })).verdict, 'out')
  t.is(nf.send(arpFrame()).verdict, 'drop')
  t.is(nf.send(ipv4Frame({ proto: 'tcp' }).slice(0, 20)).verdict, 'drop')
  const drops = Object.fromEntries(Object.entries(nf.counters()).filter(([k]) => k.startsWith('drop/')))
  // Allow rules are no drop reason; every packet dropped is under exactly one.
  t.deepEqual(drops, { 'drop/rule/1': 1, 'drop/default': 2, 'drop/fragment': 2, 'drop/nonIp': 1, 'drop/malformed': 1 })
  t.false('drop/default' in fw({ default: 'allow' }).counters(), 'an allow policy drops nothing')
})

test('malformed and truncated frames are counted and dropped', t => {
  const nf = fw({ default: 'allow' })
  const f = ipv4Frame({ proto: 'tcp' })
  t.is(nf.send(f.slice(0, 10)).verdict, 'drop')
  t.is(nf.send(f.slice(0, 30)).verdict, 'drop')
  t.is(nf.send(f.slice(0, f.length - 1)).verdict, 'drop')
  const bad = f.slice()
  bad[14] = 0x43
  t.is(nf.send(bad).verdict, 'drop')
  t.is(nf.send(arpFrame().slice(0, 20)).verdict, 'drop')
  t.is(nf.counters()['drop/malformed'], 5)
  // IPv6: cut short, a chain past the packet, a jumbogram, a tiny first fragment.
  const g = ipv6Frame({ proto: 'tcp', ext: [60] })
  t.is(nf.send(g.slice(0, g.length - 1)).verdict, 'drop')
  const long = g.slice()
  long[14 + 40 + 1] = 9
  t.is(nf.send(long).verdict, 'drop')
  t.is(nf.send(ipv6Frame({ ext: [0], payloadLength: 0 })).verdict, 'drop')
  t.is(nf.send(ipv6Frame({ proto: 6, mf: true, rawL4: new Uint8Array(12) })).verdict, 'drop')
  t.is(nf.counters()['drop/malformed'], 9)
  t.is(nf.counters().ipv6Packets, 0)
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
    [{ rules: [{ action: 'allow', proto: 'icmp6' }] }, '/rules/0/proto'],
    [{ rules: [{ action: 'allow', src: '2001:db8::1/32' }] }, '/rules/0/src'],
    [{ rules: [{ action: 'allow', src: '2001:db8::/129' }] }, '/rules/0/src'],
    [{ rules: [{ action: 'allow', dst: '2001:db8:::1' }] }, '/rules/0/dst'],
    [{ rules: [{ action: 'allow', src: ['2001:db8::/32', '10.0.0.0/8'] }] }, '/rules/0/src/1'],
    [{ rules: [{ action: 'allow', src: '10.0.0.0/8', dst: '2001:db8::/32' }] }, '/rules/0/dst'],
    [{ rules: [{ action: 'allow', proto: 'icmp', dst: '2001:db8::/32' }] }, '/rules/0/proto'],
    [{ rules: [{ action: 'allow', proto: 1, src: '::1' }] }, '/rules/0/proto'],
    [{ rules: [{ action: 'allow', proto: 'icmpv6', src: '10.0.0.1' }] }, '/rules/0/proto'],
    [{ rules: [{ action: 'allow', proto: 'icmpv6', dstPort: 1 }] }, '/rules/0/dstPort'],
  ]
  for (const [cfg, path] of bad) {
    // create()'s own checks and messages; in a chain the schema's come first (spec.test.ts).
    const e = t.throws(() => fw(cfg as FirewallConfig, { schema: false }), { instanceOf: NFConfigError }, JSON.stringify(cfg))
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
  const nf = fw(outboundOnly)
  const rx = (s: FrameSpec) => nf.send(ipv4Frame(s)).verdict
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 40000 }), 'drop') // unsolicited
  t.is(rx({ ...LAN, srcPort: 40000, dstPort: 80, tcpFlags: 0x02 }), 'out')
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 40000, tcpFlags: 0x12 }), 'out')
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 40001 }), 'drop') // another port
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 80, dstPort: 40000 }), 'drop') // another protocol
  t.is(rx({ ...LAN, proto: 'udp', srcPort: 5353, dstPort: 53 }), 'out')
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 5353 }), 'out')
  t.is(rx({ ...LAN, proto: 'icmp', icmpType: 8, icmpId: 77 }), 'out')
  t.is(rx({ ...WAN, proto: 'icmp', icmpType: 0, icmpId: 77 }), 'out')
  t.is(rx({ ...WAN, proto: 'icmp', icmpType: 0, icmpId: 78 }), 'drop')
  t.is(rx({ ...WAN, proto: 'icmp', icmpType: 8, icmpId: 77 }), 'out') // same id, either way
  const c = nf.counters()
  t.is(c.established, 4)
  t.is(c.conntrackActive, 3)
})

test('stateful: flows expire after their timeout; FIN and RST shorten it', t => {
  const nf = fw({ ...outboundOnly, timeouts: { tcpEstablished: 100, tcpTransitory: 10, udp: 50, udpUnreplied: 5 } })
  const rx = (s: FrameSpec) => nf.send(ipv4Frame(s)).verdict
  const at = (s: number) => nf.advance(T0 + s * 1000 - nf.now)
  rx({ ...LAN, srcPort: 1, dstPort: 80, tcpFlags: 0x02 })
  rx({ ...WAN, srcPort: 80, dstPort: 1, tcpFlags: 0x12 }) // established: 100 s
  rx({ ...LAN, proto: 'udp', srcPort: 2, dstPort: 53 }) // unreplied: 5 s
  rx({ ...LAN, proto: 'udp', srcPort: 3, dstPort: 53 })
  rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 3 }) // replied: 50 s
  at(6)
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 2 }), 'drop')
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 3 }), 'out')
  at(60)
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 1 }), 'out')
  t.is(rx({ ...WAN, proto: 'udp', srcPort: 53, dstPort: 3 }), 'drop')
  rx({ ...LAN, srcPort: 1, dstPort: 80, tcpFlags: 0x11 }) // FIN: transitory 10 s
  at(65)
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 1, tcpFlags: 0x10 }), 'out')
  at(80)
  t.is(rx({ ...WAN, srcPort: 80, dstPort: 1, tcpFlags: 0x10 }), 'drop')
  // The sweep frees entries nobody asks about again: the whole table within 40 ticks of their expiry.
  rx({ ...LAN, srcPort: 9, dstPort: 80 }) // not established: transitory, 10 s
  t.is(nf.counters().conntrackActive, 1)
  at(90)
  nf.advance(40 * 100)
  t.is(nf.counters().conntrackActive, 0)
})

test('stateful: ICMP errors about a tracked flow are related', t => {
  const nf = fw(outboundOnly)
  nf.send(ipv4Frame({ ...LAN, proto: 'udp', srcPort: 5000, dstPort: 33434 }))
  const quote = (srcPort: number) =>
    ipv4Frame({ ...LAN, proto: 'udp', srcPort, dstPort: 33434, payload: 12 }).slice(14, 14 + 28)
  const err = (srcPort: number) =>
    ipv4Frame({ src: '192.0.2.254', dst: '10.0.0.2', proto: 'icmp', icmpType: 11, icmpId: 0, payload: quote(srcPort) })
  t.is(nf.send(err(5000)).verdict, 'out')
  t.is(nf.send(err(5001)).verdict, 'drop')
  t.is(nf.counters().related, 1)
})

test('stateful: later fragments follow an allowed first fragment', t => {
  const nf = fw({ default: 'drop', stateful: true, rules: [{ action: 'allow', proto: 'udp', dstPort: 53 }] })
  const frag = { ...LAN, proto: 'udp' as const, id: 99 }
  t.is(nf.send(ipv4Frame({ ...frag, fragOffset: 3, rawL4: new Uint8Array(8) })).verdict, 'drop')
  t.is(nf.send(ipv4Frame({ ...frag, dstPort: 53, mf: true, payload: 16 })).verdict, 'out')
  t.is(nf.send(ipv4Frame({ ...frag, fragOffset: 3, rawL4: new Uint8Array(8) })).verdict, 'out')
  t.is(nf.send(ipv4Frame({ ...frag, id: 100, fragOffset: 3, rawL4: new Uint8Array(8) })).verdict, 'drop')
})

test('stateful: a full table lets flows through untracked, and counts them', t => {
  const nf = fw({ ...outboundOnly, conntrackSize: 2 })
  for (let p = 1; p <= 3; p++) t.is(nf.send(ipv4Frame({ ...LAN, srcPort: p })).verdict, 'out')
  t.is(nf.send(ipv4Frame({ ...WAN, dstPort: 2, srcPort: 80 })).verdict, 'out')
  t.is(nf.send(ipv4Frame({ ...WAN, dstPort: 3, srcPort: 80 })).verdict, 'drop')
  t.is(nf.counters().conntrackFull, 1)
})

// Stateful mode over IPv6.

const LAN6 = { src: '2001:db8:a::2', dst: '2001:db8:f::9' }
const WAN6 = { src: '2001:db8:f::9', dst: '2001:db8:a::2' }
const outboundOnly6: FirewallConfig = {
  default: 'drop', stateful: true,
  rules: [{ action: 'allow', src: '2001:db8:a::/48' }],
}

test('stateful IPv6: replies of allowed flows pass, others do not; ICMPv6 echo by identifier', t => {
  const nf = fw(outboundOnly6)
  const rx = (s: Ipv6FrameSpec) => nf.send(ipv6Frame(s)).verdict
  t.is(rx({ ...WAN6, proto: 'tcp', srcPort: 80, dstPort: 40000 }), 'drop') // unsolicited
  t.is(rx({ ...LAN6, proto: 'tcp', srcPort: 40000, dstPort: 80, tcpFlags: 0x02 }), 'out')
  t.is(rx({ ...WAN6, proto: 'tcp', srcPort: 80, dstPort: 40000, tcpFlags: 0x12 }), 'out')
  t.is(rx({ ...WAN6, proto: 'tcp', srcPort: 80, dstPort: 40001 }), 'drop') // another port
  t.is(rx({ ...WAN6, src: '2001:db8:f::8', proto: 'tcp', srcPort: 80, dstPort: 40000 }), 'drop') // another host
  t.is(rx({ ...WAN6, proto: 'udp', srcPort: 80, dstPort: 40000 }), 'drop') // another protocol
  t.is(rx({ ...LAN6, proto: 'udp', srcPort: 5353, dstPort: 53, ext: [0] }), 'out')
  t.is(rx({ ...WAN6, proto: 'udp', srcPort: 53, dstPort: 5353, ext: [60] }), 'out')
  t.is(rx({ ...LAN6, proto: 'icmpv6', icmpType: 128, icmpId: 77 }), 'out')
  t.is(rx({ ...WAN6, proto: 'icmpv6', icmpType: 129, icmpId: 77 }), 'out')
  t.is(rx({ ...WAN6, proto: 'icmpv6', icmpType: 129, icmpId: 78 }), 'drop')
  // Neighbour discovery is no flow: the rules decide it.
  t.is(rx({ ...WAN6, proto: 'icmpv6', icmpType: 136, payload: 16 }), 'drop')
  const c = nf.counters()
  t.is(c.established, 3)
  t.is(c.conntrackActive, 3)
})

test('stateful: IPv4 and IPv6 flows never answer for each other, even when the addresses fold alike', t => {
  const nf = fw({ default: 'drop', stateful: true, rules: [{ action: 'allow', proto: 'tcp', dstPort: 80 }] })
  // ::a00:2 and ::c633:6409 fold (xor of words) to 10.0.0.2 and 198.51.100.9.
  t.is(nf.send(ipv4Frame({ src: '10.0.0.2', dst: '198.51.100.9', srcPort: 40000, dstPort: 80 })).verdict, 'out')
  t.is(nf.send(ipv6Frame({ src: '::c633:6409', dst: '::a00:2', proto: 'tcp', srcPort: 80, dstPort: 40000 })).verdict, 'drop')
  // Two IPv6 hosts whose addresses fold to the same value (1:0:0:2 and 1:2:0:0 in the last four
  // groups): only the one the flow went to answers.
  t.is(nf.send(ipv6Frame({ src: '2001:db8::1', dst: '2001:db8::1:0:0:2', proto: 'tcp', srcPort: 1000, dstPort: 80 })).verdict, 'out')
  t.is(nf.send(ipv6Frame({ src: '2001:db8::1:0:0:2', dst: '2001:db8::1', proto: 'tcp', srcPort: 80, dstPort: 1000 })).verdict, 'out')
  t.is(nf.send(ipv6Frame({ src: '2001:db8:0:0:1:2::', dst: '2001:db8::1', proto: 'tcp', srcPort: 80, dstPort: 1000 })).verdict, 'drop')
  t.is(nf.send(ipv4Frame({ src: '198.51.100.9', dst: '10.0.0.2', srcPort: 80, dstPort: 40000 })).verdict, 'out')
  t.is(nf.counters().established, 2)
})

test('stateful IPv6: ICMPv6 errors about a tracked flow are related, quoting through extension headers', t => {
  const nf = fw(outboundOnly6)
  nf.send(ipv6Frame({ ...LAN6, proto: 'udp', srcPort: 5000, dstPort: 33434 }))
  nf.send(ipv6Frame({ ...LAN6, proto: 'icmpv6', icmpType: 128, icmpId: 9 }))
  const quote = (spec: Ipv6FrameSpec) => ipv6Frame({ ...LAN6, ...spec }).slice(14)
  const err = (type: number, q: Uint8Array) =>
    ipv6Frame({ src: '2001:db8:ff::1', dst: LAN6.src, proto: 'icmpv6', icmpType: type, icmpId: 0, payload: q })
  t.is(nf.send(err(3, quote({ proto: 'udp', srcPort: 5000, dstPort: 33434, payload: 12 }))).verdict, 'out')
  t.is(nf.send(err(1, quote({ proto: 'udp', srcPort: 5000, dstPort: 33434, ext: [0, 60] }))).verdict, 'out')
  t.is(nf.send(err(2, quote({ proto: 'icmpv6', icmpType: 128, icmpId: 9 }))).verdict, 'out')
  t.is(nf.send(err(4, quote({ proto: 'udp', srcPort: 5001, dstPort: 33434 }))).verdict, 'drop')
  t.is(nf.send(err(1, quote({ proto: 'udp', dst: '2001:db8:f::8', srcPort: 5000, dstPort: 33434 }))).verdict, 'drop')
  // Not an error type: never related.
  t.is(nf.send(err(135, quote({ proto: 'udp', srcPort: 5000, dstPort: 33434 }))).verdict, 'drop')
  t.is(nf.counters().related, 3)
})

test('stateful, at rest: idle() sweeps the whole table and asks to be called when the next flow expires; stateless needs no call', t => {
  // A tick a second sweeps five entries of the hundred here.
  const nf = fw({ ...outboundOnly, conntrackSize: 100, timeouts: { udpUnreplied: 5 } }, { tickMs: 1000 })
  for (let i = 0; i < 50; i++) t.is(nf.send(ipv4Frame({ ...LAN, proto: 'udp', srcPort: 1000 + i, dstPort: 53 })).verdict, 'out') // expire at 5 s
  nf.advance(3000)
  t.is(nf.send(ipv4Frame({ ...LAN, proto: 'udp', srcPort: 2000, dstPort: 53 })).verdict, 'out') // at 8 s
  nf.advance(2000)
  t.true(nf.counters().conntrackActive > 40, `ticks swept a few: ${nf.counters().conntrackActive} left`)
  t.is(nf.idle(), 3000, 'idle() swept the rest: the one left is due at 8 s')
  t.is(nf.counters().conntrackActive, 1)
  nf.advance(3000)
  t.is(nf.idle(), Infinity)
  t.is(nf.counters().conntrackActive, 0)
  t.is(fw({ default: 'allow', rules: [] }).idle(), Infinity)
})

test('stateful IPv6: later fragments follow an allowed first fragment, by its 32-bit identification', t => {
  const nf = fw({ default: 'drop', stateful: true, rules: [{ action: 'allow', proto: 'udp', dstPort: 53 }] })
  const frag = { ...LAN6, proto: 'udp' as const, id: 0x12345678 }
  const later = (id: number) => ipv6Frame({ ...frag, id, fragOffset: 3, rawL4: new Uint8Array(8) })
  t.is(nf.send(later(0x12345678)).verdict, 'drop')
  t.is(nf.send(ipv6Frame({ ...frag, dstPort: 53, mf: true, payload: 16 })).verdict, 'out')
  t.is(nf.send(later(0x12345678)).verdict, 'out')
  t.is(nf.send(later(0x12345679)).verdict, 'drop')
  t.is(nf.send(later(0x02345678)).verdict, 'drop')
  // A first fragment of an established flow opens the way for its own rest too.
  t.is(nf.send(ipv6Frame({ ...frag, id: 5, dstPort: 53, mf: true, payload: 16 })).verdict, 'out')
  t.is(nf.send(later(5)).verdict, 'out')
})

test('stateful IPv6: address ids are freed with their flows, so a small table serves address after address', t => {
  // One tick per 5 s step: each sweeps one entry of the two (a twentieth of the table, rounded up).
  const nf = fw({ ...outboundOnly6, conntrackSize: 2, timeouts: { udp: 1, udpUnreplied: 1 } }, { tickMs: 5000 })
  for (let k = 1; k <= 20; k++) {
    const src = `2001:db8:a::${k.toString(16)}`
    const dst = `2001:db8:f::${k.toString(16)}`
    t.is(nf.send(ipv6Frame({ src, dst, proto: 'udp', srcPort: 1, dstPort: 2 })).verdict, 'out')
    t.is(nf.send(ipv6Frame({ src: dst, dst: src, proto: 'udp', srcPort: 2, dstPort: 1 })).verdict, 'out', `flow ${k}`)
    nf.advance(5000)
  }
  t.is(nf.counters().conntrackFull, 0)
  for (let i = 0; i < 2; i++) nf.advance(5000)
  t.is(nf.counters().conntrackActive, 0)
  // Three flows in a table of two: the third is counted and its replies dropped.
  for (let k = 1; k <= 3; k++) nf.send(ipv6Frame({ ...LAN6, proto: 'udp', srcPort: k, dstPort: 53 }))
  t.is(nf.send(ipv6Frame({ ...WAN6, proto: 'udp', srcPort: 53, dstPort: 3 })).verdict, 'drop')
  t.is(nf.counters().conntrackFull, 1)
})
