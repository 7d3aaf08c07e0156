// router — one leg of an IPv4 router: it stands between a port on a link (a Linux interface,
// a capture) and the rest of the chain, and does for that link what a Linux router does for
// one of its interfaces. Two legs make the chain a router between two links:
//
//     lan -> rlan -> fw -> nat -> rwan -> wan,  and back  wan -> rwan -> nat -> fw -> rlan -> lan
//
// From the wire it answers ARP for its address, learns its neighbours from ARP, forwards
// IPv4 sent to its MAC into the chain with the TTL decremented (RFC 1624 incremental
// checksum) and a symmetric flow hash set, so the next NF's instances each see whole flows;
// a packet whose TTL runs out becomes, in place, the ICMP time exceeded about it (RFC 792,
// RFC 1812 4.3.2), back out of the wire. From the chain it sends IPv4 on to its next hop on
// the link (the destination if on the link, else the gateway), with that neighbour's MAC;
// while the neighbour is unresolved, packets wait (HOLD) in a small queue and ARP asks for
// it once a second, three times; then they are dropped (neighbours.ts).
//
// A packet came from the link iff it comes from the endpoint the `wire` gate leads to.
// Gates: `chain` (forwarded from the link), `wire` (to the link: forwarded, ARP, ICMP).
//
// A leg runs as several instances too. ARP has no flow to hash, so every ARP frame reaches one
// instance: it hands a copy of each it learns from to every other instance (env.packets.
// toInstance), which learns from it the same way (and answers nothing: the first did), so
// every instance resolves its next hops, and releases what it held for them, as one would.
//
// Dropped and counted, from the wire: malformed frames (and IPv4 with a bad header checksum,
// RFC 1812 5.2.2), frames neither IPv4 nor ARP, IPv4 to another host's MAC (the port is
// promiscuous; a NIC would filter it), link-layer or IP broadcast and multicast (a router
// does not forward them, RFC 1812 5.3.4-5.3.5), martian addresses (RFC 1812 5.3.7: this
// network, loopback, broadcast or multicast source, the router's own address as source),
// IPv4 to another host on the same link (Linux would turn it back with an ICMP redirect;
// a chain leads onwards only), ARP other than a request for our address. From the chain:
// non-IPv4, broadcast and multicast, packets to the router's own address (it has no local
// stack), destinations off the link without a gateway, next hops that never answer.
//
// Not done: IP options are forwarded untouched (Linux processes record-route and the like),
// no ICMP other than time exceeded (no redirects, no destination unreachable for no route
// or unresolved neighbours, no answer to a ping of our address), no fragmentation: the
// chain does not know the link's MTU. Frames are untagged on the link as far as ARP goes;
// VLAN tags on forwarded frames pass through untouched.
//
// Config: config.schema.json beside this file, which documents every field and default and
// generates the type (config-types.ts, npm run schema:types); config.ts adds what a schema cannot say (the address is a host
// on its prefix, the gateway and the static neighbours are on the link, the MAC unicast).
//
//     { "address": "10.0.0.1/24", "gateway": "10.0.0.254", "neighbours": { "10.0.0.5": "02:00:00:00:00:05" } }

import { CONSUMED, defineNF, DROP, HOLD, type NFEnv, type NFInstance, type Packet } from '../../xio/nf-types.ts'
import { bundle } from '../../packet/schema.ts'
import schema from './config.schema.json' with { type: 'json' }
import { get16, get32, set16 } from '../../packet/bytes.ts'
import { checksumUpdate16 } from '../../packet/checksum.ts'
import { copyMac, ETH_DST, ETH_SRC, writeMac } from '../../packet/ethernet.ts'
import { ARP_REPLY, ARP_REQUEST, ARP_SHA, arpOperation, arpSenderIp, arpTargetIp, arpTurnIntoReply, writeArpRequest } from '../../packet/arp.ts'
import { Headers, parse, parseQuoted, PARSE_ARP, PARSE_IPV4 } from '../../packet/headers.ts'
import { ICMP_HLEN, ICMP_TIME_EXCEEDED, icmpErrorInPlace, icmpIsError } from '../../packet/icmp.ts'
import { IPPROTO_ICMP, IPV4_CHECKSUM, IPV4_TTL, ipv4ChecksumOk } from '../../packet/ipv4.ts'
import { symmetricFlowHashOf } from '../../packet/flow.ts'
import { formatIpv4 } from '../../packet/address.ts'
import type { Json } from '../lib/config.ts'
import type { RouterConfig } from './config-types.ts'
import { readRouterConfig } from './config.ts'
import { NB_INCOMPLETE, NB_REACHABLE, NB_STATIC, Neighbours } from './neighbours.ts'

export type { RouterConfig } from './config-types.ts'

// Module-local copies of imported constants: TurboFan folds these, not imported bindings.
const _ETH_DST = ETH_DST
const _ETH_SRC = ETH_SRC
const _IPPROTO_ICMP = IPPROTO_ICMP
const _IPV4_CHECKSUM = IPV4_CHECKSUM
const _IPV4_TTL = IPV4_TTL
const _PARSE_ARP = PARSE_ARP
const _PARSE_IPV4 = PARSE_IPV4
const _NB_INCOMPLETE = NB_INCOMPLETE
const _NB_REACHABLE = NB_REACHABLE
const _NB_STATIC = NB_STATIC

const CHAIN = 0
const WIRE = 1

/** Learned neighbours; the static ones come on top. Beyond it new neighbours are refused (counted). */
const TABLE_SIZE = 4096
/** Packets held for unresolved neighbours: in all, and for one (Linux's unres_qlen is per neighbour too). */
const MAX_HELD = 256
const MAX_HELD_PER_NEIGHBOUR = 32
/** ARP requests for an unresolved neighbour: one a second, three in all (Linux's mcast_solicit 3, retrans_time 1 s). */
const RETRY_MS = 1000
const MAX_TRIES = 3
/**
 * A learned neighbour not confirmed for this long is forgotten and resolved again on its next
 * packet. Linux is more elaborate: after base_reachable_time (15-45 s) an entry goes STALE,
 * is still used, and is probed with unicast ARP when used (DELAY, PROBE); only unused ones
 * are collected. One fixed lifetime is enough for a leg whose neighbours talk back.
 */
const REACHABLE_MS = 300_000
/** ICMP errors: a token bucket of 1000 a second, bursts of 50 (Linux's icmp_msgs_per_sec and icmp_msgs_burst; RFC 1812 4.3.2.8). */
const ICMP_PER_MS = 1
const ICMP_BURST = 50
/** ARP frames copied to the other instances: a burst of 64, then one a millisecond. */
const ARP_SHARE_PER_MS = 1
const ARP_SHARE_BURST = 64
/** No address, for explain()'s last-packet fields: 255.255.255.255 as an int32, a broadcast no neighbour or next hop is. */
const NONE = -1

/** TTL of the ICMP errors we send (Linux's default ip_default_ttl). */
const ICMP_TTL = 64

function create(config: RouterConfig, env: NFEnv): NFInstance {
  const s = readRouterConfig(config as Json)
  const self = s.address
  const mask = s.mask
  const network = s.network
  // On a /31 there is no directed broadcast; 255.255.255.255 stands in, caught as a group address anyway.
  const broadcast = s.broadcast ?? -1
  const mac = s.mac
  const macHi = get16(mac, 0)
  const macLo = get32(mac, 2)
  const hasGateway = s.gateway !== null
  const gateway = s.gateway ?? 0

  const nb = new Neighbours(TABLE_SIZE + s.neighbours.length, MAX_HELD, MAX_HELD_PER_NEIGHBOUR)
  for (const n of s.neighbours) nb.setMac(nb.add(n.ip, _NB_STATIC, 0), n.mac, 0)
  const ip = nb.ip
  const state = nb.state

  const h = new Headers()
  const q = new Headers()
  let wireId = env.gateTarget('wire')
  let now = env.now()
  /** The region held packets live in: p.bytes, the same view for every packet. */
  let region: Uint8Array | null = null
  // The last neighbour each way, before a table lookup: a leg's traffic mostly goes to one
  // next hop (the gateway) and comes from few.
  let outId = -1
  let inId = -1
  let icmpTokens = ICMP_BURST
  let icmpIpId = 0
  // The runner puts what process() returns on the wire before what went through env.packets,
  // so a packet to a neighbour whose held ones were just released would overtake them: until
  // the next tick such packets go through env.packets too, behind the released ones. On the
  // wall clock the runner ticks after a burst's transmit and before it flushes env.packets,
  // so that closes the gap; on the packets' clock a tick may fall inside a burst, and a
  // packet after it may still overtake.
  const viaOutbox = new Uint8Array(nb.capacity)
  const viaOutboxIds = new Int32Array(nb.capacity)
  let viaOutboxCount = 0

  let toChain = 0, toWire = 0, malformed = 0, badChecksum = 0, notIpv4 = 0, notForUs = 0, broadcasts = 0
  let martian = 0, sameLink = 0, local = 0, noRoute = 0, ttlExceeded = 0, icmpErrors = 0
  let arp = 0, arpReplies = 0, arpRequests = 0, unresolved = 0, unresolvedQueueFull = 0, noBuffer = 0
  let arpShared = 0, arpShareLost = 0, arpShareLimited = 0, handedNotArp = 0
  let shareTokens = ARP_SHARE_BURST
  // What process() did with the last packet beyond its counters, for explain() (a trace's
  // note): the neighbour it was held for; the sender of an ARP frame that taught us its MAC,
  // or that we answered; how many held packets that released. NONE: nothing of the kind.
  let heldFor = NONE, arpSender = NONE, released = 0
  let answered = false

  // Instances: each ARP frame learnt from is copied to the others (see the top).
  const { instance: me, instances } = env.placement ?? { instance: 0, instances: 1 }

  /** True if the 6 bytes at b[o...] are our MAC. */
  function isOurs(b: Uint8Array, o: number): boolean {
    return get16(b, o) === macHi && get32(b, o + 2) === macLo
  }

  /** 224/4 multicast, 255.255.255.255, and the link's directed broadcast. */
  function isGroup(a: number): boolean {
    return (a >>> 28) === 0xe || a === -1 || a === broadcast
  }

  /** 0/8 ("this network") and 127/8 (loopback): never on a wire (RFC 1812 5.3.7). */
  function isMartian(a: number): boolean {
    const top = a >>> 24
    return top === 0 || top === 127
  }

  function fromWire(p: Packet, st: number): number {
    if (st === _PARSE_ARP) return arpIn(p, false)
    if (st !== _PARSE_IPV4) {
      notIpv4++
      return DROP
    }
    const b = p.bytes
    const at = p.at
    const l3 = h.l3
    if ((b[at] & 1) !== 0) {
      broadcasts++
      return DROP
    }
    if (!isOurs(b, at)) {
      notForUs++
      return DROP
    }
    if (!ipv4ChecksumOk(b, l3)) {
      badChecksum++
      return DROP
    }
    const src = h.src
    const dst = h.dst
    if (isMartian(src) || isMartian(dst) || (src >>> 28) >= 0xe || src === self || src === broadcast) {
      martian++
      return DROP
    }
    if (isGroup(dst)) {
      broadcasts++
      return DROP
    }
    if (dst !== self && (dst & mask) === network) {
      sameLink++
      return DROP
    }
    confirm(b, at, src)
    if (h.ttl <= 1) return expired(p)
    // The TTL shares a checksum word with the protocol: update for that word (RFC 1624).
    const w = get16(b, l3 + _IPV4_TTL)
    set16(b, l3 + _IPV4_TTL, w - 0x100)
    const c = l3 + _IPV4_CHECKSUM
    set16(b, c, checksumUpdate16(get16(b, c), w, w - 0x100))
    // An ICMP error goes to the instance that sees the flow it is about.
    p.flowHash = h.proto === _IPPROTO_ICMP && h.l4 >= 0 && icmpIsError(h.icmpType) && parseQuoted(b, h.l4 + ICMP_HLEN, h.l3End, q)
      ? symmetricFlowHashOf(q)
      : symmetricFlowHashOf(h)
    toChain++
    return CHAIN
  }

  /**
   * Traffic from a neighbour confirms its entry: from an on-link source its own, from off the
   * link the gateway's, if the frame comes from the MAC we have for it.
   */
  function confirm(b: Uint8Array, at: number, src: number): void {
    let a = src
    if ((src & mask) !== network) {
      if (!hasGateway) return
      a = gateway
    }
    let id = inId
    if (id < 0 || ip[id] !== a || state[id] !== _NB_REACHABLE) {
      id = nb.find(a)
      if (id < 0 || state[id] !== _NB_REACHABLE) return
      inId = id
    }
    if (nb.macEquals(id, b, at + _ETH_SRC)) nb.stamp[id] = now
  }

  /** TTL ran out: the packet becomes the ICMP time exceeded about it, to its sender. */
  function expired(p: Packet): number {
    ttlExceeded++
    // RFC 1812 4.3.2.7: never about an ICMP error nor a non-first fragment (broadcasts and
    // sources that are no single host were dropped before); and not beyond the rate limit.
    if (h.fragOffset !== 0 || (h.proto === _IPPROTO_ICMP && icmpIsError(h.icmpType)) || icmpTokens < 1) return DROP
    icmpTokens--
    const b = p.bytes
    const at = p.at
    const end = icmpErrorInPlace(b, h, ICMP_TIME_EXCEEDED, 0, self, ICMP_TTL, icmpIpId)
    icmpIpId = (icmpIpId + 1) & 0xffff
    copyMac(b, at + _ETH_SRC, at + _ETH_DST)
    writeMac(b, at + _ETH_SRC, mac)
    p.length = end - at
    icmpErrors++
    return WIRE
  }

  /** ARP from the wire, or (`shared`) a copy of it another instance learnt from: learnt from, and answered only from the wire. */
  function arpIn(p: Packet, shared: boolean): number {
    const b = p.bytes
    const at = p.at
    const o = h.l3
    const sha = o + ARP_SHA
    const op = arpOperation(b, o)
    // A promiscuous port also brings ARP between other hosts: not ours to learn from (Linux
    // drops frames to another host's MAC). A group or our own sender MAC is a loop or a lie.
    if (((b[at] & 1) === 0 && !isOurs(b, at)) || (b[sha] & 1) !== 0 || isOurs(b, sha) || (op !== ARP_REQUEST && op !== ARP_REPLY)) {
      arp++
      return CONSUMED
    }
    const spa = arpSenderIp(b, o)
    const forUs = arpTargetIp(b, o) === self
    const learnable = spa !== 0 && spa !== self && spa !== network && spa !== broadcast && (spa & mask) === network
    // Copied only if it can teach another instance something (what learn() below would take).
    if (!shared && instances > 1 && learnable && (forUs || nb.find(spa) >= 0)) share(p)
    // Gleaning, as Linux does: a request for our address or a reply to us creates the
    // sender's entry; any other ARP only refreshes an entry we have. A DAD probe's sender
    // (0.0.0.0) is no one yet.
    if (learnable && learn(spa, b, sha, forUs)) arpSender = spa
    if (op === ARP_REQUEST && forUs && !shared) {
      arpTurnIntoReply(b, at, o, mac)
      arpReplies++
      answered = true
      arpSender = spa
      return WIRE
    }
    // It ends here, learnt from: no loss, so no drop (the manager counts it as consumed).
    arp++
    return CONSUMED
  }

  /**
   * A copy of an ARP frame from the wire for every other instance, to learn from; at most
   * ARP_SHARE_BURST frames at once and ARP_SHARE_PER_MS after, so an ARP flood costs the pool
   * and the manager a bounded number of copies.
   */
  function share(p: Packet): void {
    const out = env.packets
    if (!out) return
    if (shareTokens < 1) {
      arpShareLimited++
      return
    }
    shareTokens--
    for (let k = 0; k < instances; k++) {
      if (k === me) continue
      // A copy keeps the frame's inPort: it is the same frame, not one entering the chain here.
      const c = out.copy(p)
      if (!c) {
        arpShareLost += instances - k - (k < me ? 1 : 0)
        return
      }
      out.toInstance(c.d, k, c.length)
      arpShared++
    }
  }

  /** Takes the sender's MAC for its entry (`create`: a new entry if it has none); whether it did. */
  function learn(a: number, b: Uint8Array, sha: number, create: boolean): boolean {
    let id = nb.find(a)
    if (id < 0) {
      if (!create) return false
      id = nb.add(a, _NB_REACHABLE, now)
      if (id >= 0) nb.setMac(id, b, sha)
      return id >= 0
    }
    const st = state[id]
    if (st === _NB_STATIC) return false
    nb.setMac(id, b, sha)
    nb.stamp[id] = now
    if (st === _NB_INCOMPLETE) {
      state[id] = _NB_REACHABLE
      release(id)
    }
    return true
  }

  /** The neighbour answered: its held packets leave, oldest first, with its MAC. */
  function release(id: number): void {
    const out = env.packets
    const b = region
    if (out === undefined || b === null) return
    for (let k = nb.takeHeld(id); k >= 0; k = nb.takeHeld(id)) {
      const at = nb.heldAt[k]
      nb.writeMac(id, b, at + _ETH_DST)
      writeMac(b, at + _ETH_SRC, mac)
      out.send(nb.heldD[k], WIRE, nb.heldLength[k])
      toWire++
      released++
      if (viaOutbox[id] === 0) {
        viaOutbox[id] = 1
        viaOutboxIds[viaOutboxCount++] = id
      }
    }
  }

  function fromChain(p: Packet, st: number): number {
    if (st !== _PARSE_IPV4) {
      notIpv4++
      return DROP
    }
    const dst = h.dst
    if (isMartian(dst)) {
      martian++
      return DROP
    }
    if (isGroup(dst)) {
      broadcasts++
      return DROP
    }
    if (dst === self) {
      local++
      return DROP
    }
    let hop = dst
    if ((dst & mask) !== network) {
      if (!hasGateway) {
        noRoute++
        return DROP
      }
      hop = gateway
    }
    let id = outId
    if (id < 0 || ip[id] !== hop || state[id] < _NB_REACHABLE) {
      id = nb.find(hop)
      if (id < 0 || state[id] === _NB_INCOMPLETE) return hold(p, hop, id)
      outId = id
    }
    const b = p.bytes
    const at = p.at
    nb.writeMac(id, b, at + _ETH_DST)
    writeMac(b, at + _ETH_SRC, mac)
    toWire++
    if (viaOutbox[id] !== 0) {
      env.packets!.send(p.d, WIRE, p.length)
      return HOLD
    }
    return WIRE
  }

  /** The next hop is unresolved: keep the packet (its numbers) until ARP answers. */
  function hold(p: Packet, hop: number, id: number): number {
    if (env.packets === undefined) {
      // No runner to send held packets later (validate's environment): nothing can wait.
      unresolved++
      return DROP
    }
    if (id < 0) {
      id = nb.add(hop, _NB_INCOMPLETE, now)
      if (id < 0) return DROP // counted by the table (neighbourTableFull)
      solicit(id)
    }
    if (!nb.hold(id, p.d, p.at, p.length)) {
      unresolvedQueueFull++
      return DROP
    }
    region = p.bytes
    heldFor = hop
    return HOLD
  }

  /** Broadcasts "who has" the neighbour's address; counts a try even without a buffer for it. */
  function solicit(id: number): void {
    nb.tries[id]++
    nb.stamp[id] = now
    const out = env.packets
    const a = out === undefined ? null : out.alloc()
    if (out === undefined || a === null) {
      noBuffer++
      return
    }
    out.send(a.d, WIRE, writeArpRequest(a.bytes, a.at, mac, self, ip[id]))
    arpRequests++
  }

  /** Three tries unanswered: the held packets go back to the pool and the entry is forgotten. */
  function giveUp(id: number): void {
    const out = env.packets
    for (let k = nb.takeHeld(id); k >= 0; k = nb.takeHeld(id)) {
      out?.drop(nb.heldD[k])
      unresolved++
    }
    nb.remove(id)
  }

  /**
   * The neighbour table's timers: ARP retries, giving up, forgetting a neighbour. Returns when
   * the next of them is due (Infinity: none until a packet comes).
   */
  function timers(nowMs: number): number {
    if (nowMs > now) {
      icmpTokens = Math.min(ICMP_BURST, icmpTokens + (nowMs - now) * ICMP_PER_MS)
      shareTokens = Math.min(ARP_SHARE_BURST, shareTokens + (nowMs - now) * ARP_SHARE_PER_MS)
    }
    now = nowMs
    for (let i = 0; i < viaOutboxCount; i++) viaOutbox[viaOutboxIds[i]] = 0
    viaOutboxCount = 0
    let next = Infinity
    for (let id = 0; id < nb.highWater; id++) {
      const st = state[id]
      if (st === _NB_INCOMPLETE) {
        if (nowMs - nb.stamp[id] >= RETRY_MS) {
          if (nb.tries[id] < MAX_TRIES) solicit(id)
          else giveUp(id)
        }
        // Asked again (solicit() stamps it anew), or still waiting: due a retry.
        if (state[id] === _NB_INCOMPLETE) next = Math.min(next, nb.stamp[id] + RETRY_MS)
      } else if (st === _NB_REACHABLE) {
        if (nowMs - nb.stamp[id] >= REACHABLE_MS) nb.remove(id)
        else next = Math.min(next, nb.stamp[id] + REACHABLE_MS)
      }
    }
    return next
  }

  return {
    process(p: Packet): number {
      heldFor = arpSender = NONE
      released = 0
      answered = false
      const st = parse(p.bytes, p.at, p.length, h)
      if (st < 0) {
        malformed++
        return DROP
      }
      // Validate may build the NF before every link is known; the runner knows them all.
      if (wireId < 0) wireId = env.gateTarget('wire')
      // An ARP frame another instance learnt from, for this one to learn from too.
      if ((p.handoff ?? -1) >= 0) {
        if (st === _PARSE_ARP) return arpIn(p, true)
        handedNotArp++ // no instance hands a router anything else
        return DROP
      }
      return p.from === wireId ? fromWire(p, st) : fromChain(p, st)
    },

    // For ARP and held packets, what the counters cannot say (a frame that released held
    // packets moved toWire for them, not for itself): "held for 10.0.0.7", "learnt 10.0.0.7,
    // sent 3 held", "answered 10.0.0.9". Else nothing, and the counters speak.
    explain(): string {
      if (heldFor !== NONE) return `held for ${formatIpv4(heldFor)}`
      if (arpSender === NONE) return ''
      const said = `${answered ? 'answered' : 'learnt'} ${formatIpv4(arpSender)}`
      return released ? `${said}, sent ${released} held` : said
    },

    // Which endpoint is the wire is read again; neighbours, held packets and counters go on.
    rewired(): void {
      wireId = env.gateTarget('wire')
    },

    tick(nowMs: number): void {
      timers(nowMs)
    },

    idle(nowMs: number): number {
      return Math.max(0, timers(nowMs) - nowMs)
    },

    counters: () => ({
      toChain, toWire, icmpErrors, arp, arpReplies, arpRequests, noBuffer, neighbours: nb.active, held: nb.held,
      ...(instances > 1 ? { arpShared, arpShareLost, arpShareLimited } : {}),
      // Why packets went no further (ARP frames are answered or learnt from, not lost: arp).
      'drop/malformed': malformed, 'drop/badChecksum': badChecksum, 'drop/notIpv4': notIpv4, 'drop/notForUs': notForUs,
      'drop/broadcast': broadcasts, 'drop/martian': martian, 'drop/sameLink': sameLink, 'drop/local': local,
      'drop/noRoute': noRoute, 'drop/ttlExceeded': ttlExceeded, 'drop/unresolved': unresolved,
      'drop/unresolvedQueueFull': unresolvedQueueFull, 'drop/neighbourTableFull': nb.refused,
      ...(instances > 1 ? { 'drop/handedNotArp': handedNotArp } : {}),
    }),
  }
}

const fixedInstances = 'its instances copy the ARP they learn from to one another by their count, so one started or stopped by ' +
  'a reload would be missed or sent copies to no one; stop the chain and run it again to change it'

export default defineNF<RouterConfig>({ name: 'router', gates: ['chain', 'wire'], config: bundle(schema), fixedInstances, create })
