// firewall — an ordered rule list, first match wins, with a default policy: iptables'
// filter chain or an nftables base chain, for IPv4. A rule matches on protocol, source and
// destination prefixes, source and destination port ranges and the ingress endpoint; its
// action is allow or drop. Port constraints never match a non-first fragment (as in BPF and
// netfilter without reassembly). With `stateful: true` it tracks the flows it lets through,
// and their replies and ICMP errors about them pass before any rule, as `ct state
// established,related accept` at the top of a chain does. IPv6 packets take the default
// policy (rules match IPv4 only so far); frames that are not IP follow the `nonIp` policy;
// malformed frames are counted and dropped.
//
// Gate: `out` (allowed packets). Dropped packets return to the pool.
//
// Config: FirewallConfig and FirewallRule in chains/chain.schema.json, which generates their
// types and documents every field and default; compileRules and the reader below add what a
// schema cannot say (host bits, low <= high, ports only with tcp/udp, `in` endpoints exist).
//
// Cost: a rule lookup intersects per-field bitsets (classifier.ts) instead of walking the
// rules, and its answer is cached per flow, so thousands of rules cost about what ten do.
//
//     { "default": "drop", "stateful": true, "rules": [
//       { "action": "allow", "proto": "tcp", "dst": "10.0.0.0/8", "dstPort": [[80, 80], [443, 443]] },
//       { "action": "allow", "proto": "udp", "dstPort": 53, "in": "lan" } ] }

import { DROP, type NFEnv, type NFInstance, type NFModule, type Packet } from '../../xio/nf-types.ts'
import { Headers, parse, parseQuoted, PARSE_IPV4, PARSE_IPV6 } from '../../packet/headers.ts'
import { hash4 } from '../../packet/flow.ts'
import { IPPROTO_ICMP } from '../../packet/ipv4.ts'
import { icmpIsError, ICMP_HLEN } from '../../packet/icmp.ts'
import { booleanAt, integerAt, objectAt, oneOf, type Json } from '../lib/config.ts'
import type { FirewallConfig } from '../../chain/spec-types.ts'
import { type Timeouts, timeoutsAt } from '../lib/flow-state.ts'
import { Classifier, NO_PORT } from './classifier.ts'
import { Conntrack } from './conntrack.ts'
import { compileRules } from './rules.ts'

export type { FirewallConfig, FirewallRule } from '../../chain/spec-types.ts'

/** The defaults of chains/chain.schema.json's FirewallConfig (a test checks they agree). */
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
  const classifier = new Classifier(rules, maxEndpointId)
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

  const ct = stateful ? new Conntrack(ctSize, timeouts) : null
  const sweepSlice = Math.ceil(ctSize / SWEEP_TICKS)
  const h = new Headers()
  const quoted = new Headers()
  let now = env.now()
  let malformed = 0, nonIpAllowed = 0, nonIpDropped = 0, ipv6Allowed = 0, ipv6Dropped = 0, established = 0, related = 0
  let cacheHits = 0, cacheMisses = 0

  /** The deciding rule's index, or n for the default policy. */
  function decide(inPort: number): number {
    const src = h.src
    const dst = h.dst
    const ports = h.hasPorts ? (h.srcPort << 16) | h.dstPort : 0
    const inKey = usesIn && inPort >= 0 && inPort <= maxEndpointId ? inPort + 1 : 0
    const meta = h.proto | (h.hasPorts ? 0 : 0x100) | (inKey << 9)
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
    const c = classifier.classify(h.proto, src, dst, h.hasPorts ? h.srcPort : NO_PORT, h.hasPorts ? h.dstPort : NO_PORT, inPort)
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

  return {
    process(p: Packet): number {
      const s = parse(p.bytes, p.at, p.length, h)
      if (s < 0) {
        malformed++
        return DROP
      }
      if (s === PARSE_IPV6) {
        // Rules speak IPv4 only so far, so IPv6 takes the default policy: a "drop everything
        // but ..." set drops it, as an nftables inet chain with that policy would.
        if (defaultAllow) {
          ipv6Allowed++
          return OUT
        }
        ipv6Dropped++
        return DROP
      }
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
      const r = decide(p.inPort)
      packets[r]++
      bytes[r] += p.length
      if (r < n ? ruleAllow[r] === 1 : defaultAllow) {
        if (ct !== null) ct.track(h, now)
        return OUT
      }
      return DROP
    },

    tick(nowMs: number): void {
      now = nowMs
      if (ct !== null) ct.sweep(nowMs, sweepSlice)
    },

    counters() {
      const out: Record<string, number> = {
        malformed, nonIpAllowed, nonIpDropped, ipv6Allowed, ipv6Dropped,
        defaultPackets: packets[n], defaultBytes: bytes[n],
        cacheHits, cacheMisses,
      }
      if (ct !== null) {
        out.established = established
        out.related = related
        out.conntrackActive = ct.active
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

const firewall: NFModule<FirewallConfig> = { gates: ['out'], create }
export default firewall
