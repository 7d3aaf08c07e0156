// The firewall's classifier and flow cache against a naive linear walk of the rules, on
// random rule sets and random packets drawn from one small universe so that rules overlap
// and packets hit them: IPv4 alone, then IPv4 and IPv6 rules mixed in one list. The walk
// reads the rules' text itself (IPv6 prefixes as BigInt), sharing no code with the firewall.

import test from 'ava'
import fc from 'fast-check'
import firewall, { type FirewallConfig, type FirewallRule } from '../../src/nfs/firewall/index.ts'
import { parseCidr, parseIpv4, prefixMask } from '../../src/packet/index.ts'
import { harness } from '../../src/testing/index.ts'
import { ipv4Frame, ipv6Frame, type FrameSpec, type Ipv6FrameSpec } from '../../src/testing/frames.ts'

const ENDPOINTS = { lan: 1, wan: 2 }
const BASES = ['10.0.0.0', '10.1.0.0', '192.168.1.0', '0.0.0.0', '255.255.255.0', '127.255.255.0']
const PORTS = [0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65534, 65535]

const addrArb = fc.tuple(fc.constantFrom(...BASES), fc.nat(255)).map(([b, h]) => {
  const a = parseIpv4(b)! | h
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`
})
const cidrArb = fc.tuple(addrArb, fc.integer({ min: 0, max: 32 })).map(([a, p]) => {
  const x = parseIpv4(a)! & prefixMask(p)
  return `${(x >>> 24) & 255}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}/${p}`
})
const portArb = fc.oneof(fc.constantFrom(...PORTS), fc.nat(65535))
const rangeArb = fc.tuple(portArb, portArb).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`)
const portSpecArb = fc.oneof(
  portArb,
  rangeArb,
  // Non-empty, as the schema's Ports type says; two plain ports are a list of two, not a range.
  fc.array(fc.oneof(portArb, rangeArb), { minLength: 1, maxLength: 4 }).map(a => a as [number | string, ...Array<number | string>]),
)
const cidrListArb = fc.array(cidrArb, { minLength: 1, maxLength: 3 }).map(a => a as [string, ...string[]])
const ruleArb: fc.Arbitrary<FirewallRule> = fc.record({
  action: fc.constantFrom<'allow' | 'drop'>('allow', 'drop'),
  proto: fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'),
  src: fc.oneof(cidrArb, cidrListArb),
  dst: fc.oneof(cidrArb, cidrListArb),
  srcPort: portSpecArb,
  dstPort: portSpecArb,
  in: fc.constantFrom('lan', 'wan'),
}, { requiredKeys: ['action'] })
// ICMP and other protocols cannot carry port constraints.
const otherProtoRuleArb: fc.Arbitrary<FirewallRule> = fc.record({
  action: fc.constantFrom<'allow' | 'drop'>('allow', 'drop'),
  proto: fc.constantFrom<'icmp' | number>('icmp', 47, 6, 17),
  src: cidrArb,
  dst: cidrArb,
  in: fc.constantFrom('lan', 'wan'),
}, { requiredKeys: ['action'] })

interface Pkt { proto: number; src: number; dst: number; sp: number; dp: number; ports: boolean; inPort: number }

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 }

function inCidrs(spec: string | string[] | undefined, a: number): boolean {
  if (spec === undefined) return true
  return (Array.isArray(spec) ? spec : [spec]).some(s => {
    const c = parseCidr(s)!
    const m = prefixMask(c.prefix)
    return (a & m) === (c.addr & m)
  })
}

function inPorts(spec: FirewallRule['srcPort'], has: boolean, p: number): boolean {
  if (spec === undefined) return true
  if (!has) return false
  const one = (x: number | string) => {
    if (typeof x === 'number') return p === x
    const [low, high] = x.split('-').map(Number)
    return p >= low && p <= high
  }
  return Array.isArray(spec) ? spec.some(one) : one(spec)
}

/** Index of the first matching rule, or -1. */
function reference(cfg: FirewallConfig, k: Pkt): number {
  const rules = cfg.rules ?? []
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]
    if (r.proto !== undefined && (typeof r.proto === 'number' ? r.proto : PROTO[r.proto]) !== k.proto) continue
    if (!inCidrs(r.src, k.src) || !inCidrs(r.dst, k.dst)) continue
    if (!inPorts(r.srcPort, k.ports, k.sp) || !inPorts(r.dstPort, k.ports, k.dp)) continue
    if (r.in !== undefined && !(Array.isArray(r.in) ? r.in : [r.in]).some(n => ENDPOINTS[n as 'lan'] === k.inPort)) continue
    return i
  }
  return -1
}

const packetArb = fc.record({
  proto: fc.constantFrom<'tcp' | 'udp' | 'icmp' | 47>('tcp', 'udp', 'icmp', 47),
  src: addrArb, dst: addrArb, srcPort: portArb, dstPort: portArb,
  fragment: fc.boolean(), inPort: fc.constantFrom(0, 1, 2, 3),
})

type Spec = { proto: 'tcp' | 'udp' | 'icmp' | 47; src: string; dst: string; srcPort: number; dstPort: number; fragment: boolean; inPort: number }

/** Checks every packet twice; returns how many matched a rule rather than the default. */
function check(t: { is: (a: unknown, b: unknown, m?: string) => void }, cfg: FirewallConfig, pkts: Spec[]): number {
  const nf = harness(firewall, cfg, { endpoints: ENDPOINTS, buffers: 4 })
  let matched = 0
  // Twice: the second pass answers from the flow cache.
  for (let pass = 0; pass < 2; pass++) {
    for (const x of pkts) {
      const frag = x.fragment && x.proto !== 'icmp'
      const spec: FrameSpec = frag
        ? { proto: x.proto, src: x.src, dst: x.dst, fragOffset: 2, rawL4: new Uint8Array(8) }
        : { proto: x.proto, src: x.src, dst: x.dst, srcPort: x.srcPort, dstPort: x.dstPort, payload: x.proto === 47 ? 4 : 0 }
      const hasPorts = !frag && (x.proto === 'tcp' || x.proto === 'udp')
      const r = reference(cfg, {
        proto: typeof x.proto === 'number' ? x.proto : PROTO[x.proto],
        src: parseIpv4(x.src)!, dst: parseIpv4(x.dst)!, sp: x.srcPort, dp: x.dstPort, ports: hasPorts, inPort: x.inPort,
      })
      if (r >= 0) matched++
      const want = r >= 0 ? cfg.rules![r].action === 'allow' : (cfg.default ?? 'allow') === 'allow'
      t.is(nf.send(ipv4Frame(spec), { inPort: x.inPort }).verdict === 'out', want, JSON.stringify(x))
    }
  }
  return matched
}

test('random rules decide as a linear walk (property)', t => {
  fc.assert(fc.property(
    fc.array(fc.oneof({ weight: 4, arbitrary: ruleArb }, { weight: 1, arbitrary: otherProtoRuleArb }), { maxLength: 70 }),
    fc.constantFrom<'allow' | 'drop'>('allow', 'drop'),
    fc.array(packetArb, { minLength: 1, maxLength: 40 }),
    (rules, def, pkts) => {
      check(t, { default: def, rules }, pkts)
    },
  ), { numRuns: 150 })
})

test('thousands of random rules decide as a linear walk', t => {
  const rules = fc.sample(fc.oneof({ weight: 4, arbitrary: ruleArb }, { weight: 1, arbitrary: otherProtoRuleArb }), { numRuns: 2500, seed: 42 })
  const pkts = fc.sample(packetArb, { numRuns: 400, seed: 7 })
  const matched = check(t, { default: 'drop', rules }, pkts)
  check(t, { default: 'allow', rules: rules.map(r => ({ ...r, action: r.action === 'allow' ? 'drop' : 'allow' })) }, pkts)
  // The universe is small enough that rules do decide, not just the default policy.
  t.true(matched > pkts.length / 4, `${matched} of ${pkts.length * 2}`)
})

// IPv4 and IPv6 together. Addresses are BigInt here: a base, a low byte, and now and then one
// bit flipped anywhere, so prefixes of every length have packets on both sides of their edges.

const BASES6 = [0x20010db8n << 96n, (0x20010db8n << 96n) | (1n << 64n), 0xfe80n << 112n, 0n, ((1n << 128n) - 1n) ^ 0xffffn, 0xffffn << 32n]
const MASK128 = (1n << 128n) - 1n

// Host bytes at the edges often, so packets land exactly on interval starts and ends.
const host6Arb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff) }, { weight: 1, arbitrary: fc.nat(255) })
const big6Arb = fc.tuple(fc.constantFrom(...BASES6), host6Arb, fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(127) })).map(([b, h, bit]) => {
  const a = b | BigInt(h)
  return bit === null ? a : a ^ (1n << BigInt(bit))
})

/** Eight groups, or with `compress` the first longest run of two or more zero groups as "::". */
function text6(a: bigint, compress: boolean): string {
  const groups: string[] = []
  for (let i = 7; i >= 0; i--) groups.push(((a >> BigInt(16 * i)) & 0xffffn).toString(16))
  let at = -1, len = 1
  for (let i = 0; i < 8 && compress; i++) {
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > len) [at, len] = [i, j - i]
  }
  return at < 0 ? groups.join(':') : `${groups.slice(0, at).join(':')}::${groups.slice(at + len).join(':')}`
}

/** IPv6 text (full or compressed, no IPv4 tail) to a BigInt, for the reference walk. */
function big6(s: string): bigint {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined]
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t]
  return groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n)
}

const cidr6Arb = fc.tuple(big6Arb, fc.integer({ min: 0, max: 128 }), fc.boolean()).map(([a, p, compress]) => {
  const mask = p === 0 ? 0n : (MASK128 << BigInt(128 - p)) & MASK128
  return `${text6(a & mask, compress)}/${p}`
})
const cidr6ListArb = fc.array(cidr6Arb, { minLength: 1, maxLength: 3 }).map(a => a as [string, ...string[]])
const rule6Arb: fc.Arbitrary<FirewallRule> = fc.record({
  action: fc.constantFrom<'allow' | 'drop'>('allow', 'drop'),
  proto: fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'),
  src: fc.oneof(cidr6Arb, cidr6ListArb),
  dst: fc.oneof(cidr6Arb, cidr6ListArb),
  srcPort: portSpecArb,
  dstPort: portSpecArb,
  in: fc.constantFrom('lan', 'wan'),
}, { requiredKeys: ['action'] })
const otherProto6RuleArb: fc.Arbitrary<FirewallRule> = fc.record({
  action: fc.constantFrom<'allow' | 'drop'>('allow', 'drop'),
  proto: fc.constantFrom<'icmpv6' | number>('icmpv6', 58, 47, 6, 17),
  src: cidr6Arb,
  dst: cidr6Arb,
  in: fc.constantFrom('lan', 'wan'),
}, { requiredKeys: ['action'] })
// Rules naming no address and no ICMP: both families.
const anyFamilyRuleArb: fc.Arbitrary<FirewallRule> = fc.record({
  action: fc.constantFrom<'allow' | 'drop'>('allow', 'drop'),
  proto: fc.constantFrom<'tcp' | 'udp' | number>('tcp', 'udp', 47),
  dstPort: portSpecArb,
  in: fc.constantFrom('lan', 'wan'),
}, { requiredKeys: ['action'] }).map(r => (r.proto === 47 ? { ...r, dstPort: undefined } : r))
const mixedRuleArb = fc.oneof(
  { weight: 3, arbitrary: ruleArb }, { weight: 1, arbitrary: otherProtoRuleArb },
  { weight: 3, arbitrary: rule6Arb }, { weight: 1, arbitrary: otherProto6RuleArb },
  { weight: 1, arbitrary: anyFamilyRuleArb },
)

const PROTO_ANY: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 }

interface Pkt6 { v6: boolean; proto: number; src: bigint; dst: bigint; sp: number; dp: number; ports: boolean; inPort: number }

/** The family a rule's text names: 4, 6, or 0 for both. */
function familyOf(r: FirewallRule): number {
  const addrs = [r.src, r.dst].flat().filter((x): x is string => x !== undefined)
  if (addrs.length) return addrs[0].includes(':') ? 6 : 4
  const p = typeof r.proto === 'number' ? r.proto : r.proto === undefined ? -1 : PROTO_ANY[r.proto]
  return p === 1 ? 4 : p === 58 ? 6 : 0
}

function inPrefixes(spec: string | string[] | undefined, v6: boolean, a: bigint): boolean {
  if (spec === undefined) return true
  return (Array.isArray(spec) ? spec : [spec]).some(s => {
    const [addr, len] = s.split('/')
    const bits = v6 ? 128 : 32
    const p = BigInt(len ?? bits)
    const base = v6 ? big6(addr) : BigInt(parseIpv4(addr)! >>> 0)
    return (a >> (BigInt(bits) - p)) === (base >> (BigInt(bits) - p))
  })
}

/** Index of the first matching rule, or -1: the rules one by one, in order. */
function reference6(cfg: FirewallConfig, k: Pkt6): number {
  const rules = cfg.rules ?? []
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]
    const fam = familyOf(r)
    if (fam !== 0 && fam !== (k.v6 ? 6 : 4)) continue
    if (r.proto !== undefined && (typeof r.proto === 'number' ? r.proto : PROTO_ANY[r.proto]) !== k.proto) continue
    if (!inPrefixes(r.src, k.v6, k.src) || !inPrefixes(r.dst, k.v6, k.dst)) continue
    if (!inPorts(r.srcPort, k.ports, k.sp) || !inPorts(r.dstPort, k.ports, k.dp)) continue
    if (r.in !== undefined && !(Array.isArray(r.in) ? r.in : [r.in]).some(n => ENDPOINTS[n as 'lan'] === k.inPort)) continue
    return i
  }
  return -1
}

interface Spec6 {
  proto: 'tcp' | 'udp' | 'icmpv6' | 47; src: bigint; dst: bigint; srcPort: number; dstPort: number
  ext: number[]; fragment: boolean; inPort: number; compress: boolean
}
type MixedSpec = { v6: false; p: Spec } | { v6: true; p: Spec6 }

const packet6Arb: fc.Arbitrary<Spec6> = fc.record({
  proto: fc.constantFrom<'tcp' | 'udp' | 'icmpv6' | 47>('tcp', 'udp', 'icmpv6', 47),
  src: big6Arb, dst: big6Arb, srcPort: portArb, dstPort: portArb, ext: fc.constantFrom<number[]>([], [], [0], [60, 43]),
  fragment: fc.boolean(), inPort: fc.constantFrom(0, 1, 2, 3), compress: fc.boolean(),
})
const mixedPacketArb: fc.Arbitrary<MixedSpec> = fc.oneof(packetArb.map(p => ({ v6: false as const, p })), packet6Arb.map(p => ({ v6: true as const, p })))

/** check() for both families; returns how many packets of each family matched a rule. */
function checkMixed(t: { is: (a: unknown, b: unknown, m?: string) => void }, cfg: FirewallConfig, pkts: MixedSpec[]): [number, number] {
  const nf = harness(firewall, cfg, { endpoints: ENDPOINTS, buffers: 4 })
  const matched: [number, number] = [0, 0]
  for (let pass = 0; pass < 2; pass++) {
    for (const m of pkts) {
      let frame: Uint8Array
      let k: Pkt6
      if (!m.v6) {
        const x = m.p
        const frag = x.fragment && x.proto !== 'icmp'
        frame = ipv4Frame(frag
          ? { proto: x.proto, src: x.src, dst: x.dst, fragOffset: 2, rawL4: new Uint8Array(8) }
          : { proto: x.proto, src: x.src, dst: x.dst, srcPort: x.srcPort, dstPort: x.dstPort, payload: x.proto === 47 ? 4 : 0 })
        k = {
          v6: false, proto: typeof x.proto === 'number' ? x.proto : PROTO[x.proto], src: BigInt(parseIpv4(x.src)! >>> 0), dst: BigInt(parseIpv4(x.dst)! >>> 0),
          sp: x.srcPort, dp: x.dstPort, ports: !frag && (x.proto === 'tcp' || x.proto === 'udp'), inPort: x.inPort,
        }
      } else {
        const x = m.p
        const frag = x.fragment && x.proto !== 'icmpv6'
        const base: Ipv6FrameSpec = { proto: x.proto, src: text6(x.src, x.compress), dst: text6(x.dst, !x.compress), ext: x.ext }
        frame = ipv6Frame(frag
          ? { ...base, fragOffset: 2, rawL4: new Uint8Array(8) }
          : { ...base, srcPort: x.srcPort, dstPort: x.dstPort, payload: x.proto === 47 ? 4 : 0 })
        k = {
          v6: true, proto: x.proto === 'icmpv6' ? 58 : typeof x.proto === 'number' ? x.proto : PROTO[x.proto], src: x.src, dst: x.dst,
          sp: x.srcPort, dp: x.dstPort, ports: !frag && (x.proto === 'tcp' || x.proto === 'udp'), inPort: x.inPort,
        }
      }
      const r = reference6(cfg, k)
      if (r >= 0 && pass === 0) matched[m.v6 ? 1 : 0]++
      const want = r >= 0 ? cfg.rules![r].action === 'allow' : (cfg.default ?? 'allow') === 'allow'
      t.is(nf.send(frame, { inPort: k.inPort }).verdict === 'out', want, JSON.stringify(m, (_, v) => (typeof v === 'bigint' ? text6(v, true) : v)))
    }
  }
  return matched
}

test('random IPv4 and IPv6 rules in one list decide as a linear walk, first match across families (property)', t => {
  fc.assert(fc.property(
    fc.array(mixedRuleArb, { maxLength: 60 }),
    fc.constantFrom<'allow' | 'drop'>('allow', 'drop'),
    fc.array(mixedPacketArb, { minLength: 1, maxLength: 40 }),
    (rules, def, pkts) => {
      checkMixed(t, { default: def, rules }, pkts)
    },
  ), { numRuns: 150 })
})

test('thousands of random IPv4 and IPv6 rules decide as a linear walk', t => {
  const rules = fc.sample(mixedRuleArb, { numRuns: 2500, seed: 43 })
  const pkts = fc.sample(mixedPacketArb, { numRuns: 600, seed: 8 })
  const [m4, m6] = checkMixed(t, { default: 'drop', rules }, pkts)
  checkMixed(t, { default: 'allow', rules: rules.map(r => ({ ...r, action: r.action === 'allow' ? 'drop' : 'allow' })) }, pkts)
  // Rules of each family do decide, not just the default policy.
  const n6 = pkts.filter(p => p.v6).length
  t.true(m6 > n6 / 4, `IPv6: ${m6} of ${n6}`)
  t.true(m4 > (pkts.length - n6) / 4, `IPv4: ${m4} of ${pkts.length - n6}`)
})
