// firewall — an ordered rule list, first match wins, with a default policy: an nftables base
// chain of the inet family, over IPv4 and IPv6. A rule matches on protocol, source and
// destination prefixes, source and destination port ranges and the ingress endpoint; its
// action is allow or drop. A rule naming IPv4 addresses or icmp matches IPv4 packets only,
// one naming IPv6 addresses or icmpv6 IPv6 only, and any other both (`tcp dport 22 accept`
// in an inet chain); first match wins across families. IPv6 ports are read after the
// extension headers. Port constraints never match a non-first fragment (as in BPF and
// netfilter without reassembly). With `stateful: true` it tracks the flows it lets through,
// and their replies and ICMP or ICMPv6 errors about them pass before any rule, as `ct state
// established,related accept` at the top of a chain does; the tracked flows are kept in
// env.state, so a firewall killed and restarted still knows them. Frames that are not IP (ARP, other
// EtherTypes) follow the `nonIp` policy; malformed frames are counted and dropped. A drop
// policy drops IPv6 neighbour discovery too unless a rule allows icmpv6, as in nftables.
//
// Gate: `out` (allowed packets). Dropped packets return to the pool.
//
// Config: config.schema.json beside this file, which documents every field and default and
// generates the types (config-types.ts, npm run schema:types); compileRules and the reader below add what a
// schema cannot say (host bits, low <= high, ports only with tcp/udp, `in` endpoints exist,
// one family per rule).
//
// Cost: a rule lookup intersects per-field bitsets (classifier.ts) instead of walking the
// rules, and its answer is cached per flow, so thousands of rules cost about what ten do.
// Each family has its classifier over its rules and the both-family ones; IPv6 addresses
// enter theirs as the index of the interval of the rules' prefixes they fall in
// (ipv6-intervals.ts), and the flow cache keys IPv6 flows by those indices.
//
//     { "default": "drop", "stateful": true, "rules": [
//       { "action": "allow", "proto": "tcp", "dst": "10.0.0.0/8", "dstPort": [[80, 80], [443, 443]] },
//       { "action": "allow", "proto": "tcp", "dst": "2001:db8::/64", "dstPort": 443 },
//       { "action": "allow", "proto": "icmpv6" },
//       { "action": "allow", "proto": "udp", "dstPort": 53, "in": "lan" } ] }

import { defineNF, DROP, type NFEnv, type NFInstance, type Packet } from '../../xio/nf-types.ts'
import { bundle } from '../../packet/schema.ts'
import schema from './config.schema.json' with { type: 'json' }
import { Headers, parse, parseQuoted, parseQuoted6, PARSE_IPV4, PARSE_IPV6 } from '../../packet/headers.ts'
import { hash4 } from '../../packet/flow.ts'
import { IPPROTO_ICMP } from '../../packet/ipv4.ts'
import { IPPROTO_ICMPV6 } from '../../packet/ipv6.ts'
import { icmpIsError, ICMP_HLEN } from '../../packet/icmp.ts'
import { icmpv6IsError } from '../../packet/icmpv6.ts'
import { booleanAt, integerAt, objectAt, oneOf, type Json } from '../lib/config.ts'
import type { FirewallConfig } from './config-types.ts'
import { idleSweepIn, type Timeouts, timeoutsAt } from '../lib/flow-state.ts'
import { Classifier, NO_PORT } from './classifier.ts'
import { Conntrack, CONNTRACK_STATE_TAG, conntrackStateBytes } from './conntrack.ts'
import { stateMemory } from '../lib/state.ts'
import { Ipv6Intervals } from './ipv6-intervals.ts'
import { compileRules, FAMILY_ANY, type CompiledRule } from './rules.ts'

export type { FirewallConfig, FirewallRule } from './config-types.ts'

/** The defaults config.schema.json states (a test checks they agree). */
export const FIREWALL_DEFAULTS = {
  default: 'allow',
  nonIp: 'allow',
  stateful: false,
  conntrackSize: 65536,
  flowCacheSize: 65536,
  /** Linux conntrack's, in seconds. */
  timeouts: { tcpEstablished: 432000, tcpTransitory: 120, udp: 120, udpUnreplied: 30, icmp: 30, other: 600 } as Timeouts,
} as const

const CONFIG_FIELDS = ['default', 'nonIp', 'rules', 'stateful', 'timeouts', 'conntrackSize', 'flowCacheSize'] as const

const OUT = 0

/** The flow cache's mark for an IPv6 key (addresses are interval indices there). */
const CACHE_IPV6 = 0x200

/**
 * One family's classifier: over the rules that can match it (in order), with each of its
 * rule indices mapped back to the rule's index in the config, so first match wins across
 * families. `fields` gives a rule's fields as this classifier sees them.
 */
function familyClassifier(rules: CompiledRule[], family: 4 | 6, maxEndpointId: number, fields: (r: CompiledRule) => CompiledRule) {
  const picked: number[] = []
  rules.forEach((r, i) => {
    if (r.family === family || r.family === FAMILY_ANY) picked.push(i)
  })
  return { classifier: new Classifier(picked.map(i => fields(rules[i])), maxEndpointId), rule: Int32Array.from(picked) }
}

/** A conntrack sweep visits the table in this many ticks (~2 s at the runner's 100 ms). */
const SWEEP_TICKS = 20

function create(config: FirewallConfig, env: NFEnv): NFInstance {
  const c = objectAt(config as Json, '', CONFIG_FIELDS)
  const d = FIREWALL_DEFAULTS
  const defaultAllow = (c.default === undefined ? d.default : oneOf(c.default, '/default', ['allow', 'drop'])) === 'allow'
  const nonIpAllow = (c.nonIp === undefined ? d.nonIp : oneOf(c.nonIp, '/nonIp', ['allow', 'drop'])) === 'allow'
  // Said only when nonIp was left to its default: an explicit "allow" is a choice.
  if (!defaultAllow && c.nonIp === undefined)
    env.warn?.('/nonIp', '"default": "drop" drops IPv4 and IPv6 no rule allows, but nonIp (allow unless given) still lets ARP and other non-IP frames through; say "nonIp": "drop" if nothing else should pass, or "allow" to keep ARP')
  const stateful = c.stateful === undefined ? d.stateful : booleanAt(c.stateful, '/stateful')
  const timeouts = timeoutsAt(c.timeouts, '/timeouts', d.timeouts)
  const ctSize = c.conntrackSize === undefined ? d.conntrackSize : integerAt(c.conntrackSize, '/conntrackSize', 1, 1 << 24)
  const cacheWanted = c.flowCacheSize === undefined ? d.flowCacheSize : integerAt(c.flowCacheSize, '/flowCacheSize', 1, 1 << 24)
  const rules = compileRules(c.rules, '/rules', env)

  let maxEndpointId = 0
  for (const r of rules) if (r.in) for (const [id] of r.in) maxEndpointId = Math.max(maxEndpointId, id)
  const usesIn = rules.some(r => r.in !== null)
  const { classifier: classifier4, rule: rule4 } = familyClassifier(rules, 4, maxEndpointId, r => r)
  const v6src = new Ipv6Intervals(rules.flatMap(r => r.src6 ?? []))
  const v6dst = new Ipv6Intervals(rules.flatMap(r => r.dst6 ?? []))
  const { classifier: classifier6, rule: rule6 } = familyClassifier(rules, 6, maxEndpointId, r => ({
    ...r,
    src: r.src6 && r.src6.map(c => v6src.range(c)),
    dst: r.dst6 && r.dst6.map(c => v6dst.range(c)),
  }))
  const ruleAllow = Uint8Array.from(rules, r => (r.allow ? 1 : 0))
  // Per rule, then the default policy at index n.
  const n = rules.length
  const packets = new Float64Array(n + 1)
  const bytes = new Float64Array(n + 1)

  // Two-way set-associative: two flows whose hashes collide both stay cached, instead of
  // evicting each other on every packet (a direct-mapped cache loses a few % of hits so).
  let cacheSize = 2
  while (cacheSize < cacheWanted) cacheSize *= 2
  const setMask = (cacheSize - 1) & ~1
  const cacheKeys = new Int32Array(cacheSize * 4)
  /** Rule index + 2 (1: the default policy); 0: empty slot. */
  const cacheRule = new Int32Array(cacheSize)

  // Tracked flows live in env.state: a firewall restarted (or re-created by a reload) resumes
  // them, so established connections still pass. Opened last, once nothing in the config can fail.
  const ct = stateful ? new Conntrack(ctSize, timeouts, stateMemory(env, conntrackStateBytes(ctSize), `${CONNTRACK_STATE_TAG} ${ctSize}`), env.now()) : null
  /** Added to env.now(): a resumed firewall's clock carries on from its state's (../lib/state.ts). */
  const clockOffset = ct ? ct.clockOffset : 0
  const sweepSlice = Math.ceil(ctSize / SWEEP_TICKS)
  const h = new Headers()
  const quoted = new Headers()
  let now = env.now() + clockOffset
  let malformed = 0, nonIpAllowed = 0, nonIpDropped = 0, ipv6Packets = 0, established = 0, related = 0
  // Later fragments the default policy dropped: they carry no ports, so no port rule can let
  // them through (without stateful mode following their first fragment). Counted apart from
  // drop/default so that the classic cause of a broken large datagram has its own name.
  let fragmentDrops = 0
  let cacheHits = 0, cacheMisses = 0

  /**
   * The deciding rule's index, or n for the default policy. src and dst are IPv4 addresses,
   * or with family CACHE_IPV6 the IPv6 addresses' interval indices: the classifier's answer
   * depends on nothing else, so they key the cache as well as the addresses would.
   */
  function decide(src: number, dst: number, family: number, inPort: number): number {
    const ports = h.hasPorts ? (h.srcPort << 16) | h.dstPort : 0
    const inKey = usesIn && inPort >= 0 && inPort <= maxEndpointId ? inPort + 1 : 0
    const meta = h.proto | (h.hasPorts ? 0 : 0x100) | family | (inKey << 10)
    const i = hash4(src, dst, ports, meta) & setMask
    const k = i << 2
    let r = cacheRule[i]
    if (r !== 0 && cacheKeys[k] === src && cacheKeys[k + 1] === dst && cacheKeys[k + 2] === ports && cacheKeys[k + 3] === meta) {
      cacheHits++
      return r === 1 ? n : r - 2
    }
    r = cacheRule[i + 1]
    if (r !== 0 && cacheKeys[k + 4] === src && cacheKeys[k + 5] === dst && cacheKeys[k + 6] === ports && cacheKeys[k + 7] === meta) {
      cacheHits++
      return r === 1 ? n : r - 2
    }
    cacheMisses++
    const sp = h.hasPorts ? h.srcPort : NO_PORT
    const dp = h.hasPorts ? h.dstPort : NO_PORT
    const f = family === 0 ? classifier4.classify(h.proto, src, dst, sp, dp, inPort) : classifier6.classify(h.proto, src, dst, sp, dp, inPort)
    const c = f < 0 ? -1 : family === 0 ? rule4[f] : rule6[f]
    // The newest flow takes way 0; the one it displaces moves to way 1.
    cacheKeys.copyWithin(k + 4, k, k + 4)
    cacheRule[i + 1] = cacheRule[i]
    cacheKeys[k] = src
    cacheKeys[k + 1] = dst
    cacheKeys[k + 2] = ports
    cacheKeys[k + 3] = meta
    cacheRule[i] = c + 2
    return c < 0 ? n : c
  }

  /** process() for a well-formed IPv6 packet: as IPv4, with its own classifier and conntrack keys. */
  function process6(p: Packet): number {
    ipv6Packets++
    if (ct !== null) {
      if (ct.established6(h, now)) {
        established++
        return OUT
      }
      if (h.proto === IPPROTO_ICMPV6 && icmpv6IsError(h.icmpType) &&
        parseQuoted6(p.bytes, h.l4 + ICMP_HLEN, h.l3End, quoted) && ct.related6(quoted, now)) {
        related++
        return OUT
      }
    }
    const r = decide(v6src.indexOf(h.src6), v6dst.indexOf(h.dst6), CACHE_IPV6, p.inPort)
    packets[r]++
    bytes[r] += p.length
    if (r < n ? ruleAllow[r] === 1 : defaultAllow) {
      if (ct !== null) ct.track6(h, now)
      return OUT
    }
    if (r === n && h.l4 < 0) fragmentDrops++
    return DROP
  }

  return {
    process(p: Packet): number {
      const s = parse(p.bytes, p.at, p.length, h)
      if (s < 0) {
        malformed++
        return DROP
      }
      if (s === PARSE_IPV6) return process6(p)
      if (s !== PARSE_IPV4) {
        if (nonIpAllow) {
          nonIpAllowed++
          return OUT
        }
        nonIpDropped++
        return DROP
      }
      if (ct !== null) {
        if (ct.established(h, now)) {
          established++
          return OUT
        }
        if (h.proto === IPPROTO_ICMP && icmpIsError(h.icmpType) &&
          parseQuoted(p.bytes, h.l4 + ICMP_HLEN, h.l3End, quoted) && ct.related(quoted, now)) {
          related++
          return OUT
        }
      }
      const r = decide(h.src, h.dst, 0, p.inPort)
      packets[r]++
      bytes[r] += p.length
      if (r < n ? ruleAllow[r] === 1 : defaultAllow) {
        if (ct !== null) ct.track(h, now)
        return OUT
      }
      if (r === n && h.l4 < 0) fragmentDrops++
      return DROP
    },

    tick(nowMs: number): void {
      now = nowMs + clockOffset
      if (ct !== null) {
        ct.sweep(now, sweepSlice)
        ct.saveClock(now)
      }
    },

    idle(nowMs: number): number {
      now = nowMs + clockOffset
      if (ct === null) return Infinity
      const soonest = ct.sweepAll(now)
      ct.saveClock(now)
      return idleSweepIn(soonest, now)
    },

    // Its rules name endpoints (in:), not where its gates lead: nothing to read again.
    rewired(): void {},

    counters() {
      const out: Record<string, number> = {
        nonIpAllowed, ipv6Packets,
        defaultPackets: packets[n], defaultBytes: bytes[n],
        cacheHits, cacheMisses,
        'drop/malformed': malformed, 'drop/nonIp': nonIpDropped,
      }
      if (!defaultAllow) {
        out['drop/default'] = packets[n] - fragmentDrops
        out['drop/fragment'] = fragmentDrops
      }
      for (let i = 0; i < n; i++) if (ruleAllow[i] !== 1) out[`drop/rule/${i}`] = packets[i]
      if (ct !== null) {
        out.established = established
        out.related = related
        out.conntrackActive = ct.active
        out.conntrackResumed = ct.resumed
        out.conntrackExpired = ct.expired
        out.conntrackFull = ct.full
      }
      for (let i = 0; i < n; i++) {
        out[`rules/${i}/packets`] = packets[i]
        out[`rules/${i}/bytes`] = bytes[i]
      }
      return out
    },
  }
}

export default defineNF<FirewallConfig>({ name: 'firewall', gates: ['out'], config: bundle(schema), create })
