// nat — source NAT (masquerade) for an inside network, with port forwards, as Linux's
// `masquerade` and `dnat to` do. Outbound TCP and UDP from the inside leave with the external
// address and a port from the configured range, ICMP echo with a translated identifier;
// replies find their session and are translated back. Port forwards send new flows to an
// external port on to an inside host. Mapping is endpoint-independent and filtering address-
// and port-dependent, as sessions.ts explains (RFC 4787, RFC 5382); an inside host reaches
// another through the external address (hairpinning). IPv4 and L4 checksums are updated
// incrementally (RFC 1624), ICMP errors about a session are translated inside and out (RFC 5508).
// Sessions expire when idle (TCP: established and transitory timeouts, FIN or RST shortens;
// UDP: unreplied and replied) and their ports return to the range. With the range or the
// table exhausted, new flows are dropped and counted while existing ones keep working.
// Sessions outlive the process: they are kept in env.state, so a NAT killed and restarted (or
// re-created by a reload) resumes every one, established flows keeping their external ports.
//
// Several instances share the work as VPP's NAT44 workers do, by handoff. Each instance hands
// out every N-th port (portOwner: port mod N), so a reply's destination port names the
// instance holding its session; an inside endpoint's sessions live with the instance its
// address and port hash to (so it has one mapping, whichever remote it talks to), and a port
// forward's with its target's (every session of one forward at one instance). A packet that
// reaches another instance (the manager picks by flow hash, which knows none of this) is
// handed to its owner (env.packets.toInstance), tagged with the way it was going, and decided
// there; a packet handed once is not handed again, but for a hairpin's one turn.
//
// A packet is inbound iff it comes from the endpoint the `outside` gate leads to (or another
// instance handed it over as inbound).
// Gates: `inside` (inbound packets, translated back), `outside` (outbound, translated).
// Passed through unchanged, to the other side: frames that are not IPv4, outbound packets
// from sources outside `inside`, inbound packets not addressed to `external`. Dropped and
// counted: malformed frames, non-first fragments (no ports to translate; reassemble first),
// protocols other than TCP, UDP and ICMP, inbound packets with no session or forward.
//
// Config: config.schema.json beside this file, which documents every field and default and
// generates the type (config-types.ts, npm run schema:types); config.ts adds what a schema cannot say (host bits, low <= high,
// tcpEstablished >= tcpTransitory, one forward per port).
//
//     { "external": "203.0.113.1", "inside": "10.0.0.0/8", "ports": [20000, 59999],
//       "forwards": [ { "proto": "tcp", "port": 8080, "to": "10.0.0.5:80" } ] }

import { defineNF, DROP, HOLD, NFConfigError, type NFEnv, type NFInstance, type Packet } from '../../xio/nf-types.ts'
import { bundle } from '../../packet/schema.ts'
import schema from './config.schema.json' with { type: 'json' }
import { Headers, parse, parseQuoted, PARSE_IPV4 } from '../../packet/headers.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/ipv4.ts'
import { ICMP_HLEN, icmpIsError, icmpIsQuery, icmpIsRequest } from '../../packet/icmp.ts'
import { translateDestination, translateSource } from '../../packet/rewrite.ts'
import type { Json } from '../lib/config.ts'
import type { NatConfig } from './config-types.ts'
import { readNatConfig } from './config.ts'
import { translateIcmpError } from './icmp-error.ts'
import { stateMemory } from '../lib/state.ts'
import { hash4 } from '../../packet/flow.ts'
import { idleSweepIn } from '../lib/flow-state.ts'
import {
  PortPool, portOwner, R_EXT_PORT, R_IN_DELTA, R_INSIDE_IP, R_INSIDE_PORT, R_OUT_DELTA, Sessions, SESSIONS_STATE_TAG, sessionsStateBytes, STRIDE,
  type SessionInfo,
} from './sessions.ts'

// Module-local copies of imported constants: TurboFan folds these, not imported bindings.
const _IPPROTO_ICMP = IPPROTO_ICMP
const _IPPROTO_TCP = IPPROTO_TCP
const _IPPROTO_UDP = IPPROTO_UDP
const _ICMP_HLEN = ICMP_HLEN
const _STRIDE = STRIDE
const _R_EXT_PORT = R_EXT_PORT
const _R_INSIDE_IP = R_INSIDE_IP
const _R_INSIDE_PORT = R_INSIDE_PORT
const _R_OUT_DELTA = R_OUT_DELTA
const _R_IN_DELTA = R_IN_DELTA

export type { NatConfig } from './config-types.ts'

const INSIDE = 0
const OUTSIDE = 1
/** The tag of a packet handed to another instance (Packet.handoff): which way it was going. */
const HANDED_OUT = 0
const HANDED_IN = 1
/** Sessions swept per tick: the whole table in about 20 ticks (~2 s). */
const SWEEP_TICKS = 20

/**
 * Every instance of `instances` must have ports of its own for each protocol: one with none
 * (a small range, forwards inside it) would drop every new flow of the endpoints it owns.
 */
function checkShares(low: number, high: number, instances: number, tcpForwards: ReadonlySet<number>, udpForwards: ReadonlySet<number>): void {
  if (instances > high - low + 1) throw new NFConfigError('/ports', `${high - low + 1} ports cannot be shared by ${instances} instances: give the range at least ${instances}, or run fewer`)
  for (const [name, forwards] of [['TCP', tcpForwards], ['UDP', udpForwards]] as const) {
    const free = new Int32Array(instances)
    for (let port = low; port <= high; port++) if (!forwards.has(port)) free[portOwner(port, instances)]++
    const none = free.indexOf(0)
    if (none >= 0) throw new NFConfigError('/ports', `instance ${none} of ${instances} would have no ${name} port of its own: each instance takes one port in ${instances} of the range, and a forward's port (/forwards) is no instance's`)
  }
}

function create(config: NatConfig, env: NFEnv): NFInstance {
  const s = readNatConfig(config as Json)
  const ext = s.external
  const reserved = (proto: number) => new Set(s.forwards.filter(f => f.proto === proto).map(f => f.port))
  const [low, high] = s.ports
  const { instance: me, instances } = env.placement ?? { instance: 0, instances: 1 }
  if (instances > 1) checkShares(low, high, instances, reserved(_IPPROTO_TCP), reserved(_IPPROTO_UDP))
  // The sessions live in env.state: a NAT restarted (or re-created by a reload) resumes them,
  // established flows keeping their ports. Opened last, once nothing in the config can fail.
  const share = { instance: me, instances }
  const state = stateMemory(env, sessionsStateBytes(s.maxMappings), `${SESSIONS_STATE_TAG} ${s.maxMappings} ${me}/${instances}`)
  const sessions = new Sessions(s.maxMappings, ext, {
    tcp: new PortPool(low, high, reserved(_IPPROTO_TCP), share),
    udp: new PortPool(low, high, reserved(_IPPROTO_UDP), share),
    icmp: new PortPool(low, high, new Set(), share),
  }, s.timeouts, state, env.now())
  /** Added to env.now(): a resumed NAT's clock carries on from its state's (../lib/state.ts). */
  const clockOffset = sessions.clockOffset
  // Forward index + 1 by port, for TCP and UDP.
  const tcpForward = new Int32Array(65536)
  const udpForward = new Int32Array(65536)
  s.forwards.forEach((f, i) => ((f.proto === _IPPROTO_TCP ? tcpForward : udpForward)[f.port] = i + 1))
  const fwdIp = Int32Array.from(s.forwards, f => f.toIp)
  const fwdPort = Int32Array.from(s.forwards, f => f.toPort)
  const insideNet = s.insideNet
  const insideMask = s.insideMask
  const sweepSlice = Math.ceil(s.maxMappings / SWEEP_TICKS)

  /** The session records (sessions.ts): a translation reads its port and deltas there. */
  const r = sessions.r
  const h = new Headers()
  const q = new Headers()
  let outsideId = env.gateTarget('outside')
  let now = env.now() + clockOffset
  let malformed = 0, nonIp = 0, passed = 0, fragments = 0, unsupported = 0, noMapping = 0
  let translatedOut = 0, translatedIn = 0, hairpinned = 0, handedOff = 0
  // The instance the packet process() last decided went to, or -1, for explain().
  let lastHandoff = -1
  // How the packet being decided was handed to this instance: HANDED_IN, HANDED_OUT, or -1.
  let arrived = -1
  let handoffLoops = 0
  // The session the packet process() last decided used, and whether it opened it, for
  // explain() (a trace's note).
  let lastSession = -1
  let lastNew = false
  // A hairpinned packet's outbound session (its source's mapping), or -1.
  let hairpinFrom = -1

  const out = env.packets
  const spread = instances > 1 && out !== undefined

  /** The instance an inside endpoint's sessions live with: its mapping, or a port forward's sessions if it is a forward's target. */
  function ownerOfInside(addr: number, port: number): number {
    return (hash4(addr, port, 0x4e4154, 0) >>> 0) % instances
  }

  /** The instance holding the session of a packet to the external port (or ICMP identifier) `port`. */
  function ownerOfExternal(proto: number, port: number): number {
    if (proto !== _IPPROTO_ICMP) {
      const f = (proto === _IPPROTO_TCP ? tcpForward : udpForward)[port] - 1
      if (f >= 0) return ownerOfInside(fwdIp[f], fwdPort[f])
    }
    return port >= low && port <= high ? portOwner(port, instances) : me
  }

  /**
   * Hands the packet (inbound or outbound, untranslated that way) to the instance that holds
   * its session, where it is decided (HOLD here). A packet handed here is handed on no more,
   * but for the one turn a hairpin takes (outbound here, inbound at the other end's owner):
   * instances that disagree on owners (one still on a config a reload is replacing) drop it
   * rather than pass it round.
   */
  function handOff(p: Packet, to: number, direction: number): number {
    if (arrived === HANDED_IN || (arrived === HANDED_OUT && direction === HANDED_OUT)) {
      handoffLoops++
      return DROP
    }
    handedOff++
    out!.toInstance(p.d, to, p.length, direction)
    lastHandoff = to
    return HOLD
  }

  function masqueraded(a: number): boolean {
    const n = insideNet.length
    if (n === 0) return true
    for (let i = 0; i < n; i++) if ((a & insideMask[i]) === insideNet[i]) return true
    return false
  }

  function outbound(p: Packet): number {
    if (!masqueraded(h.src)) {
      passed++
      return OUTSIDE
    }
    if (h.l4 < 0) {
      fragments++
      return DROP
    }
    const b = p.bytes
    const proto = h.proto
    if (proto === _IPPROTO_TCP || proto === _IPPROTO_UDP) {
      if (spread) {
        const owner = ownerOfInside(h.src, h.srcPort)
        if (owner !== me) return handOff(p, owner, HANDED_OUT)
      }
      let id = sessions.findFromInside(h.src, h.dst, proto, h.srcPort, h.dstPort, now)
      if (id < 0) {
        id = sessions.open(proto, h.src, h.srcPort, h.dst, h.dstPort, -1, now)
        if (id < 0) return DROP
        lastNew = true
      }
      sessions.touch(id, true, h.tcpFlags, now)
      const o = id * _STRIDE
      translateSource(b, h, ext, r[o + _R_EXT_PORT], r[o + _R_OUT_DELTA])
      translatedOut++
      lastSession = id
      return h.dst === ext ? hairpin(p) : OUTSIDE
    }
    if (proto === _IPPROTO_ICMP) {
      if (icmpIsQuery(h.icmpType)) {
        if (spread) {
          const owner = ownerOfInside(h.src, h.icmpId)
          if (owner !== me) return handOff(p, owner, HANDED_OUT)
        }
        let id = sessions.findFromInside(h.src, h.dst, proto, h.icmpId, 0, now)
        if (id < 0) {
          if (!icmpIsRequest(h.icmpType)) return noSession()
          id = sessions.open(proto, h.src, h.icmpId, h.dst, 0, -1, now)
          if (id < 0) return DROP
          lastNew = true
        }
        sessions.touch(id, true, 0, now)
        const o = id * _STRIDE
        translateSource(b, h, ext, r[o + _R_EXT_PORT], r[o + _R_OUT_DELTA])
        translatedOut++
        lastSession = id
        return OUTSIDE
      }
      if (icmpIsError(h.icmpType) && parseQuoted(b, h.l4 + _ICMP_HLEN, h.l3End, q) && q.l4 >= 0) {
        // The inside host reports on a packet it received: quoted source remote, destination it.
        if (spread) {
          const owner = ownerOfInside(q.dst, q.proto === _IPPROTO_ICMP ? q.icmpId : q.dstPort)
          if (owner !== me) return handOff(p, owner, HANDED_OUT)
        }
        const id = q.proto === _IPPROTO_ICMP
          ? sessions.findFromInside(q.dst, q.src, _IPPROTO_ICMP, q.icmpId, 0, now)
          : sessions.findFromInside(q.dst, q.src, q.proto, q.dstPort, q.srcPort, now)
        if (id < 0) return noSession()
        translateIcmpError(b, h, q, true, ext, sessions.extPort(id))
        translatedOut++
        lastSession = id
        return OUTSIDE
      }
    }
    unsupported++
    return DROP
  }

  /**
   * An inside host sent to the external address (RFC 4787 REQ-9, RFC 5382 REQ-8): its
   * source is translated already, and now it arrives as if from the outside, from that
   * external address and port, so the other inside host's reply comes back the same way.
   */
  function hairpin(p: Packet): number {
    hairpinned++
    hairpinFrom = lastSession
    lastSession = -1
    lastNew = false
    parse(p.bytes, p.at, p.length, h)
    return inbound(p)
  }

  function inbound(p: Packet): number {
    if (h.dst !== ext) {
      passed++
      return INSIDE
    }
    if (h.l4 < 0) {
      fragments++
      return DROP
    }
    const b = p.bytes
    const proto = h.proto
    if (proto === _IPPROTO_TCP || proto === _IPPROTO_UDP) {
      if (spread) {
        const owner = ownerOfExternal(proto, h.dstPort)
        if (owner !== me) return handOff(p, owner, HANDED_IN)
      }
      let id = sessions.findFromOutside(h.src, proto, h.srcPort, h.dstPort, now)
      if (id < 0) {
        const f = (proto === _IPPROTO_TCP ? tcpForward : udpForward)[h.dstPort] - 1
        if (f < 0) return noSession()
        id = sessions.open(proto, fwdIp[f], fwdPort[f], h.src, h.srcPort, h.dstPort, now)
        if (id < 0) return DROP
        lastNew = true
      }
      sessions.touch(id, false, h.tcpFlags, now)
      const o = id * _STRIDE
      translateDestination(b, h, r[o + _R_INSIDE_IP], r[o + _R_INSIDE_PORT], r[o + _R_IN_DELTA])
      translatedIn++
      lastSession = id
      return INSIDE
    }
    if (proto === _IPPROTO_ICMP) {
      if (icmpIsQuery(h.icmpType)) {
        if (icmpIsRequest(h.icmpType)) return noSession()
        if (spread) {
          const owner = ownerOfExternal(proto, h.icmpId)
          if (owner !== me) return handOff(p, owner, HANDED_IN)
        }
        const id = sessions.findFromOutside(h.src, proto, 0, h.icmpId, now)
        if (id < 0) return noSession()
        sessions.touch(id, false, 0, now)
        const o = id * _STRIDE
        translateDestination(b, h, r[o + _R_INSIDE_IP], r[o + _R_INSIDE_PORT], r[o + _R_IN_DELTA])
        translatedIn++
        lastSession = id
        return INSIDE
      }
      if (icmpIsError(h.icmpType) && parseQuoted(b, h.l4 + _ICMP_HLEN, h.l3End, q) && q.l4 >= 0 && q.src === ext) {
        // About a packet we sent out: quoted source is us, destination the remote.
        if (spread) {
          const owner = ownerOfExternal(q.proto, q.proto === _IPPROTO_ICMP ? q.icmpId : q.srcPort)
          if (owner !== me) return handOff(p, owner, HANDED_IN)
        }
        const id = q.proto === _IPPROTO_ICMP
          ? sessions.findFromOutside(q.dst, _IPPROTO_ICMP, 0, q.icmpId, now)
          : sessions.findFromOutside(q.dst, q.proto, q.dstPort, q.srcPort, now)
        if (id < 0) return noSession()
        translateIcmpError(b, h, q, false, sessions.insideIp(id), sessions.insidePort(id))
        translatedIn++
        lastSession = id
        return INSIDE
      }
      return noSession()
    }
    unsupported++
    return DROP
  }

  function noSession(): number {
    noMapping++
    return DROP
  }

  return {
    process(p: Packet): number {
      lastSession = -1
      lastNew = false
      hairpinFrom = -1
      lastHandoff = -1
      arrived = p.handoff ?? -1
      const st = parse(p.bytes, p.at, p.length, h)
      if (st < 0) {
        malformed++
        return DROP
      }
      if (outsideId < 0) outsideId = env.gateTarget('outside')
      const fromOutside = p.from === outsideId
      if (st !== PARSE_IPV4) {
        nonIp++
        return fromOutside ? INSIDE : OUTSIDE
      }
      // Handed over by another instance: the way it was going there, as it says.
      if (arrived >= 0) return arrived === HANDED_IN ? inbound(p) : outbound(p)
      return fromOutside ? inbound(p) : outbound(p)
    },

    // The mapping the packet used, by its external port (the packet before and after the NAT
    // shows the rest), in the few words a trace note holds: "new map :20001", "map :20001",
    // "forward :8080", "map id 20001" for an ICMP query, "hairpin :20001 to :8080".
    explain(): string {
      const ext = (s: SessionInfo) => (s.proto === _IPPROTO_ICMP ? `id ${s.extPort}` : `:${s.extPort}`)
      const last = lastSession >= 0 ? sessions.info(lastSession) : null
      if (lastHandoff >= 0) return `handed to #${lastHandoff}`
      if (hairpinFrom >= 0) return `hairpin ${ext(sessions.info(hairpinFrom))}${last ? ` to ${ext(last)}` : ''}`
      if (!last) return ''
      return `${lastNew ? 'new ' : ''}${last.forwarded ? 'forward' : 'map'} ${ext(last)}`
    },

    // Which endpoint is outside is read again; sessions and counters go on.
    rewired(): void {
      outsideId = env.gateTarget('outside')
    },

    tick(nowMs: number): void {
      now = nowMs + clockOffset
      sessions.sweep(now, sweepSlice)
      sessions.saveClock(now)
    },

    idle(nowMs: number): number {
      now = nowMs + clockOffset
      const soonest = sessions.sweepAll(now)
      sessions.saveClock(now)
      return idleSweepIn(soonest, now)
    },

    counters: () => ({
      mappingsActive: sessions.mappings,
      sessionsActive: sessions.active,
      sessionsCreated: sessions.created,
      sessionsExpired: sessions.expired,
      sessionsResumed: sessions.resumed,
      translatedOut, translatedIn, hairpinned, passed, nonIp,
      ...(spread ? { handedOff, 'drop/handoffLoop': handoffLoops } : {}),
      'drop/noMapping': noMapping, 'drop/portsExhausted': sessions.exhausted, 'drop/fragment': fragments,
      'drop/unsupported': unsupported, 'drop/malformed': malformed,
    }),
  }
}

const fixedInstances = 'its instances share the external ports by their count (each hands out every N-th), so another count ' +
  'would send replies to instances without their sessions; stop the chain and run it again to change it'

export default defineNF<NatConfig>({ name: 'nat', gates: ['inside', 'outside'], config: bundle(schema), fixedInstances, create })
