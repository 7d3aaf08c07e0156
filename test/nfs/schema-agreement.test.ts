// Each NF's config schema (config.schema.json beside its code, composed into the chain schema)
// is the one description of its config: it generates the config type the NF imports
// (config-types.ts) and validates a spec at load. The NFs' own readers run after it and add what a schema cannot say. These tests prove
// the two agree: the same field names at every level, the same defaults, every documented
// field accepted by both, and whatever an NF accepts accepted by the schema too, while the
// schema accepts what an NF refuses only for the reasons listed in SEMANTIC.

import test from 'ava'
import fc from 'fast-check'
import { isIPv6 } from 'node:net'
import { checkChain, SpecError } from '../../src/chain/spec.ts'
import { chainSchema } from '../../src/chain/schema.ts'
import { builtinNFs } from '../../src/nfs/index.ts'
import type { L2FwdConfig } from '../../src/nfs/l2fwd/config-types.ts'
import type { FirewallConfig } from '../../src/nfs/firewall/config-types.ts'
import type { NatConfig } from '../../src/nfs/nat/config-types.ts'
import type { RouterConfig } from '../../src/nfs/router/config-types.ts'
import l2fwd from '../../src/nfs/l2fwd/index.ts'
import firewall, { FIREWALL_DEFAULTS } from '../../src/nfs/firewall/index.ts'
import nat from '../../src/nfs/nat/index.ts'
import { NAT_DEFAULTS } from '../../src/nfs/nat/config.ts'
import router from '../../src/nfs/router/index.ts'
import { NFConfigError, type NFModule } from '../../src/xio/nf-types.ts'
import { parseIpv6 } from '../../src/packet/address.ts'
import { harness } from '../../src/testing/index.ts'

type Kind = 'l2fwd' | 'firewall' | 'nat' | 'router'
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const NFS: Record<Kind, NFModule<any>> = { l2fwd, firewall, nat, router }

interface SchemaNode {
  pattern?: string
  properties?: Record<string, SchemaNode & { default?: unknown }>
  required?: string[]
  $ref?: string
  items?: SchemaNode
  default?: unknown
}
const schema = chainSchema(builtinNFs) as { definitions: Record<string, SchemaNode> }
const def = (name: string): SchemaNode => schema.definitions[name]
const fieldsOf = (name: string): string[] => Object.keys(def(name).properties!).sort()

// The chain around the NF: `lan` brings packets in, `wan` takes them out (as chainAround wires it).
const ENDPOINTS = { lan: 1, wan: 2 }
const GATES: Record<Kind, Record<string, number>> = { l2fwd: { out: 2 }, firewall: { out: 2 }, nat: { inside: 1, outside: 2 }, router: { wire: 1, chain: 2 } }
const FILE = 'chains/agreement.json'
function chainAround(kind: Kind, config: unknown): unknown {
  const gates = kind === 'nat' ? ['x.inside -> lan', 'x.outside -> wan'] : kind === 'router' ? ['x.chain -> wan', 'x.wire -> lan'] : ['x -> wan']
  return {
    endpoints: { lan: { kind: 'pcap', input: 'lan.pcap', output: 'lan-out.pcap' }, wan: { kind: 'sink' }, x: { kind, config } },
    links: ['lan -> x', ...gates],
  }
}

/** The schema's problems with this config, as paths inside it ('' for the config itself); [] if valid. */
function schemaProblems(kind: Kind, config: unknown): string[] {
  try {
    checkChain(FILE, chainAround(kind, config), { nfConfigs: false })
    return []
  } catch (e) {
    if (!(e instanceof SpecError)) throw e
    return e.problems.map(p => {
      if (!p.path.startsWith('/endpoints/x')) throw new Error(`a problem outside the NF's config: ${p.path}: ${p.message}`)
      return p.path.slice('/endpoints/x/config'.length)
    })
  }
}

/** The NF reader's refusal, or null if it builds an instance. */
function nfRefusal(kind: Kind, config: unknown): NFConfigError | null {
  try {
    harness(NFS[kind], config, { endpoints: ENDPOINTS, gates: GATES[kind], buffers: 1, schema: false })
    return null
  } catch (e) {
    if (e instanceof NFConfigError) return e
    throw e
  }
}

// Every field of every NF config, typed by the generated types (so the types have them too).
const fullL2fwd: L2FwdConfig = { src: '02:00:00:00:00:01', dst: '02-00-00-00-00-02' }
const fullFirewall: FirewallConfig = {
  default: 'drop',
  nonIp: 'drop',
  stateful: true,
  timeouts: { tcpEstablished: 3600, tcpTransitory: 60, udp: 60, udpUnreplied: 10, icmp: 10, other: 100 },
  conntrackSize: 1024,
  flowCacheSize: 1024,
  rules: [
    { action: 'allow', proto: 'tcp', src: '10.0.0.0/8', dst: ['192.0.2.0/24', '198.51.100.7'], srcPort: '1024-65535', dstPort: [22, '80-89', 443], in: 'lan', comment: 'web' },
    { action: 'drop', proto: 47, in: ['lan', 'wan'] },
    { action: 'allow', proto: 'udp', dstPort: 53 },
    { action: 'allow', proto: 'tcp', src: ['2001:db8::/32', '::ffff:192.0.2.1'], dst: 'fd00::1', dstPort: 22 },
    { action: 'allow', proto: 'icmpv6', src: 'fe80::/10' },
  ],
}
const fullNat: NatConfig = {
  external: '203.0.113.1',
  inside: ['10.0.0.0/8', '192.168.0.0/16'],
  ports: [1024, 65535],
  timeouts: { tcpEstablished: 3600, tcpTransitory: 60, udp: 60, udpUnreplied: 10, icmp: 10 },
  forwards: [{ proto: 'tcp', port: 8080, to: '10.0.0.5:80' }, { proto: 'udp', port: 53, to: '10.0.0.53' }],
  maxMappings: 1024,
}
const fullRouter: RouterConfig = {
  address: '10.0.0.1/24',
  mac: '02:00:00:00:01:01',
  gateway: '10.0.0.254',
  neighbours: { '10.0.0.5': '02:00:00:00:00:05', '10.0.0.254': '02-00-00-00-00-FE' },
}

test('a config using every documented field passes the schema and the NF', t => {
  const cases: Array<[Kind, unknown, string]> = [['l2fwd', fullL2fwd, 'L2fwdConfig'], ['firewall', fullFirewall, 'FirewallConfig'], ['nat', fullNat, 'NatConfig'], ['router', fullRouter, 'RouterConfig']]
  for (const [kind, config, name] of cases) {
    t.deepEqual(Object.keys(config as object).sort(), fieldsOf(name), `${name}: the full config uses every field`)
    t.deepEqual(schemaProblems(kind, config), [], kind)
    t.is(nfRefusal(kind, config), null, kind)
  }
  t.deepEqual([...new Set(fullFirewall.rules!.flatMap(r => Object.keys(r)))].sort(), fieldsOf('FirewallRule'))
  t.deepEqual(Object.keys(fullFirewall.timeouts!).sort(), fieldsOf('FirewallTimeouts'))
  t.deepEqual(Object.keys(fullNat.timeouts!).sort(), fieldsOf('NatTimeouts'))
  t.deepEqual(Object.keys(fullNat.forwards![0]).sort(), fieldsOf('NatForward'))
})

test('the NF readers know exactly the fields the schema has, at every level', t => {
  // objectAt refuses an unknown field listing the ones it knows: compare them with the schema's.
  const known = (kind: Kind, config: unknown, path: string): string[] => {
    const e = nfRefusal(kind, config)
    if (e === null) throw new Error(`${kind} accepted ${JSON.stringify(config)}`)
    t.is(e.path, path)
    return /expected one of (.*)$/.exec(e.message)![1].split(', ').sort()
  }
  const x = { zzz: 1 }
  const cases: Array<[Kind, unknown, string, string]> = [
    ['l2fwd', x, '/zzz', 'L2fwdConfig'],
    ['firewall', x, '/zzz', 'FirewallConfig'],
    ['firewall', { rules: [{ action: 'allow', ...x }] }, '/rules/0/zzz', 'FirewallRule'],
    ['firewall', { timeouts: x }, '/timeouts/zzz', 'FirewallTimeouts'],
    ['nat', { external: '203.0.113.1', ...x }, '/zzz', 'NatConfig'],
    ['nat', { external: '203.0.113.1', timeouts: x }, '/timeouts/zzz', 'NatTimeouts'],
    ['nat', { external: '203.0.113.1', forwards: [{ proto: 'tcp', port: 1, to: '10.0.0.1', ...x }] }, '/forwards/0/zzz', 'NatForward'],
    ['router', { address: '10.0.0.1/24', ...x }, '/zzz', 'RouterConfig'],
  ]
  for (const [kind, config, path, name] of cases) {
    t.deepEqual(known(kind, config, path), fieldsOf(name), name)
    t.deepEqual(schemaProblems(kind, config), [path], name)
  }
  // Required fields: the schema's and the readers' ("missing").
  t.deepEqual(def('NatConfig').required, ['external'])
  t.regex(nfRefusal('nat', {})!.message, /^\/external: missing/)
  t.deepEqual(def('RouterConfig').required, ['address'])
  t.regex(nfRefusal('router', {})!.message, /^\/address: missing/)
  t.deepEqual(schemaProblems('router', {}), ['/address'])
  t.deepEqual(def('FirewallRule').required, ['action'])
  t.regex(nfRefusal('firewall', { rules: [{}] })!.message, /^\/rules\/0\/action: missing/)
  t.deepEqual(def('NatForward').required, ['proto', 'port', 'to'])
  for (const f of ['proto', 'port', 'to']) {
    const fwd: Record<string, unknown> = { proto: 'tcp', port: 1, to: '10.0.0.1' }
    delete fwd[f]
    const config = { external: '203.0.113.1', forwards: [fwd] }
    t.is(nfRefusal('nat', config)?.path, `/forwards/0/${f}`)
    t.deepEqual(schemaProblems('nat', config), [`/forwards/0/${f}`])
  }
})

test('the schema documents the defaults the NFs use', t => {
  const defaults = (name: string) => Object.fromEntries(Object.entries(def(name).properties!).filter(([, p]) => 'default' in p).map(([k, p]) => [k, p.default]))
  const { timeouts: fwTimeouts, ...fw } = FIREWALL_DEFAULTS
  t.deepEqual(defaults('FirewallConfig'), fw)
  t.deepEqual(defaults('FirewallTimeouts'), fwTimeouts)
  const { timeouts: natTimeouts, ports, ...rest } = NAT_DEFAULTS
  t.deepEqual(defaults('NatConfig'), rest)
  t.deepEqual(def('NatPorts').default, ports)
  const { other: _notNat, ...natSettable } = natTimeouts
  t.deepEqual(defaults('NatTimeouts'), natSettable)
  // The router's one default (its MAC) depends on the address: said in words, tested in router.test.ts.
  t.deepEqual(defaults('RouterConfig'), {})
  t.true((def('RouterConfig').properties!.mac as { description: string }).description.includes('02:78:69'))
  // Each default is also in the words a reader of the generated types sees.
  for (const name of ['FirewallConfig', 'FirewallTimeouts', 'NatConfig', 'NatTimeouts']) {
    for (const [k, p] of Object.entries(def(name).properties!)) {
      if ('default' in p) t.true((p as { description: string }).description.includes(`Default: ${String(p.default)}`), `${name}.${k}`)
    }
  }
})

// What a JSON Schema cannot express, so only the NF reader refuses it (with these words).
const SEMANTIC = [
  /host bits zero/, // "10.0.0.1/8": an address with host bits set below its prefix
  /range low \d+ is above high \d+/, // NAT ports [3000, 2000]
  /runs backwards/, // a rule's "3000-2000"
  /is shorter than tcpTransitory/, // timeouts.tcpEstablished < timeouts.tcpTransitory
  /is already forwarded by/, // two forwards of one proto and port
  /ports only exist for tcp and udp/, // a port constraint on an icmp or numbered-proto rule
  /ports go up to 65535/, // a range "80-70000"
  /no endpoint named/, // rules[].in naming an endpoint the chain does not have
  /is the (network|broadcast) address of/, // a router address, gateway or neighbour that is no host of its link
  /is not a unicast host address/, // a router address in 0/8, 127/8 or 224/3
  /is not on the link/, // a gateway or static neighbour outside the address's prefix
  /is the router's own address/, // a gateway or static neighbour that is the router
  /is a multicast \(group\) address/, // a router MAC with the group bit set
  /a rule's addresses are of one family/, // a rule with an IPv4 src and an IPv6 dst (or the reverse)
  /a list holds one family/, // a src or dst list of IPv4 and IPv6 prefixes
  /is IPv[46]'s but this rule's (src|dst) is IPv[46]/, // proto icmp with IPv6 addresses, icmpv6 with IPv4 ones
]

test('invalid fields are refused by both, at the same place', t => {
  const E = '203.0.113.1'
  const cases: Array<[Kind, unknown]> = [
    ['l2fwd', { src: '02:00:00:00:00' }],
    ['l2fwd', { dst: 5 }],
    ['firewall', { default: 'accept' }],
    ['firewall', { stateful: 'yes' }],
    ['firewall', { conntrackSize: 0 }],
    ['firewall', { flowCacheSize: 16777217 }],
    ['firewall', { flowCacheSize: 1.5 }],
    ['firewall', { timeouts: { udp: 0 } }],
    ['firewall', { timeouts: { tcp: 10 } }],
    ['firewall', { rules: {} }],
    ['firewall', { rules: [{ action: 'permit' }] }],
    ['firewall', { rules: [{ action: 'allow', proto: 'sctp' }] }],
    ['firewall', { rules: [{ action: 'allow', proto: 256 }] }],
    ['firewall', { rules: [{ action: 'allow', src: '10.0.0.0/33' }] }],
    ['firewall', { rules: [{ action: 'allow', src: [] }] }],
    ['firewall', { rules: [{ action: 'allow', dst: ['10.0.0.0/8', 'x'] }] }],
    ['firewall', { rules: [{ action: 'allow', dstPort: 'http' }] }],
    ['firewall', { rules: [{ action: 'allow', dstPort: [] }] }],
    ['firewall', { rules: [{ action: 'allow', dstPort: 65536 }] }],
    ['firewall', { rules: [{ action: 'allow', dstPort: [1, 2, 3, [4]] }] }],
    ['firewall', { rules: [{ action: 'allow', dstPort: [80, [443, 450]] }] }],
    ['firewall', { rules: [{ action: 'allow', dstPort: '80to90' }] }],
    ['firewall', { rules: [{ action: 'allow', in: [] }] }],
    ['firewall', { rules: [{ action: 'allow', in: ['lan', 3] }] }],
    ['firewall', { rules: [{ action: 'allow', comment: 7 }] }],
    ['firewall', { rules: [{ action: 'allow', proto: 'icmp6' }] }],
    ['firewall', { rules: [{ action: 'allow', src: '2001:db8::/129' }] }],
    ['firewall', { rules: [{ action: 'allow', src: '2001:db8::/032' }] }],
    ['firewall', { rules: [{ action: 'allow', dst: '2001:db8:::1' }] }],
    ['firewall', { rules: [{ action: 'allow', dst: '1:2:3:4:5:6:7:8:9' }] }],
    ['firewall', { rules: [{ action: 'allow', dst: '::ffff:192.0.2.01' }] }],
    ['firewall', { rules: [{ action: 'allow', src: 'fe80::1%eth0' }] }],
    ['nat', { external: E, inside: '2001:db8::/32' }],
    ['nat', { external: '203.0.113.300' }],
    ['nat', { external: E, inside: '10.0.0.0/8/8' }],
    ['nat', { external: E, ports: [0, 10] }],
    ['nat', { external: E, ports: [1, 70000] }],
    ['nat', { external: E, ports: [1] }],
    ['nat', { external: E, timeouts: { other: 5 } }],
    ['nat', { external: E, forwards: [{ proto: 'icmp', port: 1, to: '10.0.0.5' }] }],
    ['nat', { external: E, forwards: [{ proto: 'tcp', port: 80, to: '10.0.0.5:65536' }] }],
    ['nat', { external: E, forwards: [{ proto: 'tcp', port: 80, to: 'host:80' }] }],
    ['nat', { external: E, maxMappings: 0 }],
    ['nat', { external: E, maxMappings: 4194305 }],
    ['router', { address: '10.0.0.1/33' }],
    ['router', { address: '10.0.0.1' }],
    ['router', { address: '10.0.0.1/32' }],
    ['router', { address: 'router' }],
    ['router', { address: 5 }],
    ['router', { address: '10.0.0.1/24', mac: '02:00:00:00:01' }],
    ['router', { address: '10.0.0.1/24', gateway: '10.0.0.300' }],
    ['router', { address: '10.0.0.1/24', gateway: '10.0.0.0/24' }],
    ['router', { address: '10.0.0.1/24', neighbours: [] }],
    ['router', { address: '10.0.0.1/24', neighbours: { 'host-5': '02:00:00:00:00:05' } }],
    ['router', { address: '10.0.0.1/24', neighbours: { '10.0.0.5': 'nope' } }],
  ]
  for (const [kind, config] of cases) {
    const what = `${kind} ${JSON.stringify(config)}`
    const e = nfRefusal(kind, config)
    const s = schemaProblems(kind, config)
    t.not(e, null, what)
    t.not(s.length, 0, what)
    // One field: the NF may point one level deeper (a list item) than a composite's message.
    const within = (a: string, b: string) => a === b || a.startsWith(`${b}/`)
    t.true(e !== null && s.every(p => within(e.path, p) || within(p, e.path)), `${what}: NF ${e?.path}, schema ${s.join(', ')}`)
  }
})

test('what only the NF can check passes the schema and is refused by the NF', t => {
  const E = '203.0.113.1'
  const cases: Array<[Kind, unknown]> = [
    ['firewall', { rules: [{ action: 'allow', src: '10.0.0.1/8' }] }],
    ['firewall', { rules: [{ action: 'allow', dstPort: '3000-2000' }] }],
    ['firewall', { rules: [{ action: 'allow', dstPort: '80-70000' }] }],
    ['firewall', { rules: [{ action: 'allow', proto: 'icmp', dstPort: 1 }] }],
    ['firewall', { rules: [{ action: 'allow', in: 'nowhere' }] }],
    ['firewall', { rules: [{ action: 'allow', src: '2001:db8::1/32' }] }],
    ['firewall', { rules: [{ action: 'allow', dst: 'fe80::/8' }] }],
    ['firewall', { rules: [{ action: 'allow', src: '10.0.0.0/8', dst: '2001:db8::/32' }] }],
    ['firewall', { rules: [{ action: 'allow', src: ['2001:db8::/32', '10.0.0.0/8'] }] }],
    ['firewall', { rules: [{ action: 'allow', dst: ['10.0.0.0/8', '::1'] }] }],
    ['firewall', { rules: [{ action: 'allow', src: ['2001:db8::/32'], dst: '192.0.2.1' }] }],
    ['firewall', { rules: [{ action: 'allow', proto: 'icmp', src: '::1' }] }],
    ['firewall', { rules: [{ action: 'allow', proto: 1, dst: '2001:db8::/32' }] }],
    ['firewall', { rules: [{ action: 'allow', proto: 'icmpv6', dst: '10.0.0.0/8' }] }],
    ['firewall', { rules: [{ action: 'allow', proto: 'icmpv6', dstPort: 1 }] }],
    ['firewall', { timeouts: { tcpEstablished: 10, tcpTransitory: 20 } }],
    ['nat', { external: E, inside: ['10.0.0.0/8', '10.0.0.1/8'] }],
    ['nat', { external: E, ports: [3000, 2000] }],
    ['nat', { external: E, forwards: [{ proto: 'tcp', port: 80, to: '10.0.0.5' }, { proto: 'tcp', port: 80, to: '10.0.0.6' }] }],
    ['router', { address: '10.0.0.0/24' }],
    ['router', { address: '10.0.0.255/24' }],
    ['router', { address: '127.0.0.1/8' }],
    ['router', { address: '10.0.0.1/24', mac: '01:00:5e:00:00:01' }],
    ['router', { address: '10.0.0.1/24', gateway: '10.0.1.1' }],
    ['router', { address: '10.0.0.1/24', gateway: '10.0.0.1' }],
    ['router', { address: '10.0.0.1/24', neighbours: { '192.0.2.5': '02:00:00:00:00:05' } }],
  ]
  for (const [kind, config] of cases) {
    const what = `${kind} ${JSON.stringify(config)}`
    t.deepEqual(schemaProblems(kind, config), [], what)
    const e = nfRefusal(kind, config)
    t.true(e !== null && SEMANTIC.some(r => r.test(e.message)), `${what}: ${e?.message}`)
  }
})

test('the schema\'s IPv6 pattern reads the text the firewall reads, and Node\'s isIPv6 agrees on addresses (property)', t => {
  const pattern = new RegExp(def('Ipv6Cidr').pattern!, 'u')
  // The reader's verdict on the text alone (host bits set are the NF's own refusal: SEMANTIC).
  const reads = (s: string) => {
    const [addr, prefix, ...more] = s.split('/')
    return more.length === 0 && parseIpv6(addr) !== null && (prefix === undefined || /^(12[0-8]|1[01]\d|[1-9]?\d)$/.test(prefix))
  }
  const token = fc.oneof(
    fc.stringMatching(/^[0-9a-fA-F]{1,5}$/),
    fc.constantFrom(':', ':', '::', ':::', '.', '0', '1.2.3.4', '192.0.2.01', '256.1.1.1', '/', '/64', '/128', '/129', '/08', '%1'),
  )
  const valid = fc.tuple(fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }), fc.nat(8), fc.nat(8), fc.boolean(), fc.option(fc.nat(128)))
    .map(([g, at, len, v4, prefix]) => {
      const groups = g.map(x => x.toString(16))
      const tail = v4 ? [`${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`] : groups.slice(6)
      const all = [...groups.slice(0, 6), ...tail]
      const n = all.length
      const a = Math.min(at, n)
      const l = Math.min(len, n - a)
      const text = l >= 1 && !(v4 && a + l > 6 && a + l < n) ? `${all.slice(0, a).join(':')}::${all.slice(a + l).join(':')}` : all.join(':')
      return prefix === null ? text : `${text}/${prefix}`
    })
  let accepted = 0
  fc.assert(fc.property(fc.oneof(fc.array(token, { maxLength: 14 }).map(a => a.join('')), valid), s => {
    t.is(pattern.test(s), reads(s), s)
    if (!s.includes('/') && !s.includes('%')) t.is(pattern.test(s), isIPv6(s), `isIPv6 ${s}`)
    if (pattern.test(s)) accepted++
  }), { numRuns: 5000, seed: 4291 })
  t.true(accepted > 1000, `accepted ${accepted}`)
})

// Random configs: right values, near misses and junk, for every field.
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, 'x', '', -1, 0, 1.5, 65535, 65536, 70000, {}, [], [[]], '10.0.0.0/8', '10.0.0.5', '10.0.0.1/8',
    '256.0.0.1', '10.0.0.5:80', '10.0.0.5:99999', 'tcp', 'icmp', 'icmpv6', 'lan', 'allow', '2001:db8::/32', '::1'),
  fc.array(fc.oneof(fc.integer({ min: -1, max: 70000 }), fc.constantFrom('10.0.0.0/8', 'x', [1, 2], [2, 1], [1]), fc.string({ maxLength: 3 })), { maxLength: 4 }),
  fc.integer({ min: -2, max: 70000 }),
)
const pick = (good: unknown[]) => fc.oneof({ arbitrary: fc.constantFrom(...good), weight: 12 }, { arbitrary: junk, weight: 1 })
const maybe = (fields: Record<string, fc.Arbitrary<unknown>>) => fc.record(fields, { requiredKeys: [] })
const seconds = pick([1, 30, 120, 7440, 0.5])
const cidrs = pick(['10.0.0.0/8', '192.0.2.7', ['10.0.0.0/8', '172.16.0.0/12'], '0.0.0.0/0', '10.0.0.1/8'])
// A rule's addresses: either family, and the near misses of IPv6's (host bits, a list of two families, bad text).
const ipCidrs = pick(['10.0.0.0/8', '192.0.2.7', ['10.0.0.0/8', '172.16.0.0/12'], '0.0.0.0/0', '10.0.0.1/8',
  '2001:db8::/32', '::1', 'fe80::/10', '::/0', ['2001:db8::/32', 'fd00::/8'], '::ffff:192.0.2.1', '2001:db8::1/32',
  ['10.0.0.0/8', '2001:db8::/32'], '2001:db8:::1', '2001:db8::/129'])
const portSet = pick([80, [1024, 65535], [22, [80, 89], 443], [[80, 80], [443, 443]], [2000, 1000], 0])

const configArb: Record<Kind, fc.Arbitrary<unknown>> = {
  l2fwd: maybe({ src: pick(['02:00:00:00:00:01', 'aa-bb-cc-dd-ee-ff']), dst: pick(['02:00:00:00:00:02']) }),
  firewall: maybe({
    default: pick(['allow', 'drop']),
    nonIp: pick(['allow', 'drop']),
    stateful: pick([true, false]),
    conntrackSize: pick([1, 1024, 65536]),
    flowCacheSize: pick([1, 1024]),
    timeouts: fc.oneof(maybe({ tcpEstablished: seconds, tcpTransitory: seconds, udp: seconds, udpUnreplied: seconds, icmp: seconds, other: seconds }), junk),
    rules: fc.oneof(fc.array(fc.oneof(maybe({
      action: pick(['allow', 'drop']),
      proto: pick(['tcp', 'udp', 'icmp', 'icmpv6', 6, 17, 1, 58, 47, 0, 255]),
      src: ipCidrs,
      dst: ipCidrs,
      srcPort: portSet,
      dstPort: portSet,
      in: pick(['lan', ['lan', 'wan'], 'nowhere']),
      comment: pick(['a comment']),
    }), junk), { maxLength: 3 }), junk),
  }),
  nat: fc.tuple(pick(['203.0.113.1', '198.51.100.1']), maybe({
    inside: cidrs,
    ports: pick([[20000, 29999], [1, 65535], [5, 5], [6, 5]]),
    maxMappings: pick([1, 1024]),
    timeouts: fc.oneof(maybe({ tcpEstablished: seconds, tcpTransitory: seconds, udp: seconds, udpUnreplied: seconds, icmp: seconds }), junk),
    forwards: fc.oneof(fc.array(fc.oneof(maybe({
      proto: pick(['tcp', 'udp']),
      port: pick([80, 8080, 53, 0, 65535]),
      to: pick(['10.0.0.5:80', '10.0.0.6', '10.0.0.7:65535', '10.0.0.7:0']),
    }), junk), { maxLength: 3 }), junk),
  })).map(([external, rest]) => ({ external, ...(rest as object) })),
  router: fc.tuple(pick(['10.0.0.1/24', '192.168.1.254/16', '10.0.0.1/8', '10.0.0.2/31', '10.0.0.0/24', '10.0.0.1']), maybe({
    mac: pick(['02:00:00:00:01:01', 'aa-bb-cc-dd-ee-fe', '01:00:5e:00:00:01']),
    gateway: pick(['10.0.0.254', '192.168.0.1', '10.0.0.3', '192.0.2.1', '10.0.0.1']),
    neighbours: pick([{}, { '10.0.0.5': '02:00:00:00:00:05' }, { '10.0.0.3': '02:00:00:00:00:03', '192.168.7.7': '02:00:00:00:00:07' },
      { '192.0.2.5': '02:00:00:00:00:05' }, { host: '02:00:00:00:00:05' }, { '10.0.0.5': 'nope' }]),
  })).map(([address, rest]) => ({ address, ...(rest as object) })),
}

for (const kind of ['l2fwd', 'firewall', 'nat', 'router'] as const) {
  test(`${kind}: what the NF accepts the schema accepts; the schema accepts what the NF refuses only for what a schema cannot say`, t => {
    let both = 0, neither = 0, onlyNf = 0
    fc.assert(fc.property(configArb[kind], config => {
      const schemaOk = schemaProblems(kind, config).length === 0
      const e = nfRefusal(kind, config)
      if (e === null && !schemaOk) throw new Error(`the NF accepts what the schema refuses: ${JSON.stringify(config)}`)
      if (e !== null && schemaOk && !SEMANTIC.some(r => r.test(e.message))) {
        throw new Error(`the schema accepts what the NF refuses (${e.message}): ${JSON.stringify(config)}`)
      }
      if (e === null) both++
      else if (schemaOk) onlyNf++
      else neither++
    }), { numRuns: 600, seed: 20240611 })
    // The generators reach every outcome, so the property is not passing vacuously.
    t.true(both > 20, `accepted by both: ${both}`)
    t.true(neither > 20, `refused by both: ${neither}`)
    if (kind !== 'l2fwd') t.true(onlyNf > 0, `refused by the NF only: ${onlyNf}`)
  })
}
