// The firewall's classifier and flow cache against a naive linear walk of the rules, on
// random rule sets and random packets drawn from one small universe so that rules overlap
// and packets hit them.

import test from 'ava'
import fc from 'fast-check'
import firewall, { type FirewallConfig, type FirewallRule } from '../../src/nfs/firewall/index.ts'
import { parseCidr, parseIpv4, prefixMask } from '../../src/packet/index.ts'
import { ipv4Frame, packetOf, type FrameSpec } from '../packet/craft.ts'
import { TestEnv } from './env.ts'

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
  const nf = firewall.create(cfg, new TestEnv(ENDPOINTS))
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
      t.is(nf.process(packetOf(ipv4Frame(spec), { inPort: x.inPort })) === 0, want, JSON.stringify(x))
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
