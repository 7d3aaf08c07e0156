// Running an NF: the rx → process → tx loop over bursts, around an NFModule's per-packet
// decision. One Packet object is refilled for every descriptor, so the loop allocates
// nothing per packet; the action (a gate, or drop) goes into the descriptor's metadata and
// the whole burst goes back to the manager in one tx.
import { addon, layout } from './native.ts'
import { CONSUMED, DROP, DROP_REASON, HOLD, type NFEnv, type NFInstance, type NFModule, type Packet, type PacketOut } from './nf-types.ts'
export { defineNF } from './nf-types.ts'
import type { Xio } from './xio.ts'
import { NFFaults } from './nf-faults.ts'
import { BurstTimes } from './burst-times.ts'
import { TraceNotes } from './trace-notes.ts'
import { groupCounterName } from './group-counters.ts'
import { nfState } from './state.ts'
import { ParkedRx } from './parked-rx.ts'
import type { RxWaiter } from './rx-waiter.ts'

export interface RunOptions {
  /** Most descriptors taken per rx (default BURST, 128). */
  burst?: number
  /**
   * Checked between bursts; the loop returns once it is true (or once the manager is gone, which
   * it asks at each event-loop turn).
   */
  stopping: () => boolean
  /**
   * Where an idle NF sleeps: once nothing is due for longer than a tick (no packets, no tick()
   * wanted; see NFInstance.idle), the loop waits on it, off the event loop, until packets
   * come, the next thing is due, or maxRestMs passes. Interrupt it for whatever `stopping` or
   * `nextConfig` should see at once (a signal, a reload's line). Without it the loop never
   * waits longer than a tick.
   */
  rest?: RxWaiter
  /** The longest rest (default MAX_REST_MS, 1 s): each ends with a look at whether the manager lives. */
  maxRestMs?: number
  /** What its messages call the NF (default: its endpoint id). */
  name?: string
  /** Asked between bursts: a new config to switch to (a reload), if one has come. */
  nextConfig?: () => PendingConfig | undefined
  /** Puts back a pending config that cannot be taken yet (its NF holds packets), to be asked again. */
  retry?: (pending: PendingConfig) => void
}

/** A new config for a running NF, and whom to tell how taking it went. */
export interface PendingConfig {
  /** The group member it is for (absent: the NF that runs alone). */
  member?: string
  config: unknown
  /**
   * The config is the NF's own, unchanged: only where its gates lead changed (a reload rewired
   * them). An NF with rewired() is told so and keeps its state and counters; one without is
   * built again on the config, as for a new one.
   */
  rewired?: boolean
  /** Called once the NF runs on the new config, or with why it refused it (it then runs on as it was). */
  done(error?: unknown): void
}

const TICK_MS = 100
// An NF that has had no packet for this long, and can say when it next needs a call (idle()),
// stops being ticked: the loop calls idle() when it asked to be, and sleeps meanwhile.
const QUIET_MS = 1000
// The longest rest: each ends with a look at whether the manager still lives (nothing else
// wakes an NF whose manager was killed).
const MAX_REST_MS = 1000
// Descriptors taken per rx: what the RX ring holds, up to this. Everything a burst costs apart
// from its packets (the rx and tx, clock reads, counters, an event-loop check) is spread over
// this many when the NF is loaded; a light load gives smaller bursts anyway.
const BURST = 128
const EVENT_LOOP_EVERY_MS = 20
const PUBLISH_EVERY_MS = 500
const PUBLISH_UNCHANGED_EVERY_MS = 10_000

/**
 * What an NF sends outside process()'s return (held packets, packets of its own making),
 * collected and put on the TX ring with the runner's next burst.
 */
export class Outbox implements PacketOut {
  private readonly pending = new Uint32Array(256)
  private count = 0
  private readonly one = new Uint32Array(1)
  /** The Packet alloc() gave for each buffer, by descriptor. */
  private readonly made: (Packet | undefined)[] = []
  /** The packet process() is deciding (-1: none): its note is the runner's, after process(). */
  current = -1
  /** Where a flush that waits too long for room parks what arrives meanwhile (the runner's; see parked-rx.ts). */
  parked: ParkedRx | null = null
  /**
   * Packets the NF has in hand between bursts: allocated or held, and not yet sent or
   * dropped. A fresh instance knows nothing of the old one's, so a reload waits for none.
   */
  owned = 0

  /** `as`: the endpoint id its packets go out as (a placement group member's, else xio's own). */
  constructor(private readonly xio: Xio, private readonly as = xio.id) {}

  alloc(): Packet | null {
    if (!this.xio.malloc(this.one, 1)) return null
    this.owned++
    const d = this.one[0]
    // One Packet per buffer, made on its first alloc and reset on the next (as an mbuf is its
    // buffer's): an NF that makes a packet for each it receives allocates nothing per packet.
    // It is the NF's until it sends or drops d, as the buffer is.
    let p = this.made[d]
    if (p === undefined) {
      p = { bytes: this.xio.bytes, view: this.xio.view, d, at: this.xio.offset(d), length: 0, from: this.as, inPort: this.as, flowHash: 0, handoff: -1 }
      this.made[d] = p
    } else {
      p.length = 0
      p.from = this.as
      p.inPort = this.as
      p.flowHash = 0
      p.handoff = -1
    }
    return p
  }

  copy(p: Packet): Packet | null {
    const c = this.alloc()
    if (c === null) return null
    const length = Math.min(p.length, this.xio.capacity)
    c.bytes.copyWithin(c.at, p.at, p.at + length)
    c.length = length
    // Where the original came in, and its flow: a copy is not a packet entering the chain
    // here (a trace does not take it as one), and the manager hashes it as the original.
    c.inPort = p.inPort
    c.flowHash = p.flowHash
    this.xio.setLength(c.d, length)
    this.xio.setInPort(c.d, p.inPort)
    this.xio.setFlowHash(c.d, p.flowHash)
    return c
  }

  send(d: number, gate: number, length: number): void {
    this.xio.setLength(d, length)
    // A group member's gate leads through the manager here, even to another member: a held
    // packet goes on after the burst it came in with, so it cannot be a call.
    if (this.as === this.xio.id) this.xio.send(d, gate)
    else this.xio.sendVia(d, this.as, gate)
    this.owned--
    // What the NF noted as it held the packet (a router: "held for 10.0.0.7"; in a group, each
    // member's part up to it) says more than this, which stands in where it noted nothing; so
    // for a drop (a trace shows the verdict beside it).
    this.noteHeld(d, 'sent on after being held', true)
    this.push(d)
  }

  drop(d: number): void {
    this.xio.drop(d, this.as)
    this.owned--
    this.noteHeld(d, 'dropped after being held', true)
    this.push(d)
  }

  toInstance(d: number, instance: number, length: number, tag = 0): void {
    // Thrown in process(), the runner drops the packet and counts it (processThrew).
    if (!(Number.isInteger(instance) && instance >= 0 && instance <= layout.maxInstanceNumber))
      throw new RangeError(`env.packets.toInstance(${d}, ${instance}): no such instance (0 to ${layout.maxInstanceNumber})`)
    if (tag !== 0 && tag !== 1) throw new RangeError(`env.packets.toInstance(${d}, ${instance}, ${length}, ${tag}): a tag is 0 or 1`)
    this.xio.setLength(d, length)
    this.xio.sendToInstance(d, this.as, instance, tag)
    this.owned--
    this.noteHeld(d, `handed to instance ${instance}`)
    this.push(d)
  }

  /**
   * A traced packet the NF held and now lets go of (a router's, once ARP answered or gave up):
   * say so, or (`unlessNoted`) leave the note it was held with, if it has one.
   */
  private noteHeld(d: number, why: string, unlessNoted = false): void {
    if (d === this.current || !this.xio.region.tapsInForce() || !this.xio.traced(d)) return
    if (!unlessNoted || this.xio.traceNote(d) === '') this.xio.noteTrace(d, why)
  }

  private push(d: number): void {
    if (this.count === this.pending.length) this.flush(() => false)
    this.pending[this.count++] = d
  }

  /** Puts everything pending on the TX ring; false if it gave up because `stopping` said so. */
  flush(stopping: () => boolean): boolean {
    if (!this.count) return true
    const done = transmitAll(this.xio, this.pending, this.count, stopping, this.parked)
    this.count = 0
    return done
  }
}

export interface NFEnvWithOutbox extends NFEnv {
  readonly packets: Outbox
  /** How many gates the NF has: a verdict outside [0, gateCount) is a fault. */
  readonly gateCount: number
  /** Its gates' names, by number: what a fault's message says a gate is. */
  readonly gateNames: readonly string[]
  /** The NF's time, as createNF was told (see NFClock). */
  readonly clock: NFClock
  /** On the packet clock: the capture time (ms) of the packet being decided, which now() returns. */
  packetMs: number
}

/**
 * An NF's time: 'wall' (the default), or 'packets', each packet's capture timestamp, for
 * env.now() and tick() alike, so a replay expires NAT mappings and conntrack entries and
 * refills token buckets exactly as the captures' own time says, however fast or slow the
 * machine replays them.
 */
export type NFClock = 'wall' | 'packets'

/**
 * The environment of an NF run over xio: as the endpoint xio attached as, or (`as`) as another
 * endpoint it serves, a member of a placement group, whose gates, packets and state it then has.
 */
export function nfEnv(xio: Xio, gates: readonly string[], clock: NFClock = 'wall', as = { id: xio.id, name: xio.name }, placement?: NFEnv['placement']): NFEnvWithOutbox {
  const env: NFEnvWithOutbox = {
    endpointId: (name) => xio.endpointId(name),
    gateTarget: (gate) => {
      const index = gates.indexOf(gate)
      return index < 0 ? -1 : xio.region.routeOf(as.id, index)
    },
    now: clock === 'packets' ? () => env.packetMs : () => performance.now(),
    packets: new Outbox(xio, as.id),
    state: nfState(xio, as.name),
    gateCount: gates.length,
    gateNames: gates,
    clock,
    packetMs: 0,
    placement,
  }
  return env
}

/** An NF built for an endpoint, with the environment it was built in. */
export interface CreatedNF {
  /** Replaced by a reload that re-creates it (see NFInstance.reconfigure). */
  instance: NFInstance
  env: NFEnvWithOutbox
  module: NFModule<unknown>
}

/** Builds the NF from its config for this endpoint (or `as` another it serves); throws NFConfigError on a bad config. */
export function createNF<Config>(xio: Xio, nf: NFModule<Config>, config: Config, clock: NFClock = 'wall', as?: { id: number; name: string }, placement?: NFEnv['placement']): CreatedNF {
  const env = nfEnv(xio, nf.gates, clock, as, placement)
  return { instance: nf.create(config, env), env, module: nf as NFModule<unknown> }
}

/**
 * Transmits descs[0, n), waiting for room as long as it takes: the manager always drains, once
 * a wait that moved nothing for ParkedRx.AFTER_MS reads the RX ring into `parked` meanwhile
 * (a cycle through this process would otherwise never drain; see parked-rx.ts).
 * Returns false if it gave up because the manager stopped (or `stopping` said so) meanwhile;
 * detaching then returns what is left.
 */
function transmitAll(xio: Xio, descs: Uint32Array, n: number, stopping: () => boolean, parked: ParkedRx | null): boolean {
  let left = n
  let sent = xio.tx(descs, left)
  let movedAt = sent < left ? performance.now() : 0
  for (let tries = 1; sent < left; tries++) {
    addon.schedYield()  // the manager is behind: give it (or whoever shares our CPU) the core
    descs.copyWithin(0, sent, left)
    left -= sent
    sent = xio.tx(descs, left)
    if (parked !== null) {
      const now = performance.now()
      if (sent > 0) movedAt = now
      else if (now - movedAt >= ParkedRx.AFTER_MS) parked.park()
    }
    if ((tries & 1023) === 0 && (stopping() || !xio.managerAlive())) return false
  }
  return true
}

/** Runs an NF's rx → process → tx loop until options.stopping() says so. */
export function runNF(xio: Xio, nf: CreatedNF, options: RunOptions): Promise<void> {
  return runNFs(xio, [{ nf, name: options.name ?? `endpoint ${xio.id}`, service: xio.id, next: new Int32Array(nf.env.gateCount).fill(-1) }], options)
}

/** One NF of those a process runs: alone, or a member of a placement group. */
export interface RunMember {
  nf: CreatedNF
  /** What messages and counters call it: its endpoint's name. */
  name: string
  /** Its endpoint id: the one the packets it sends on go out as. */
  service: number
  /** By gate: the member (index) that gate leads to in the same process (a call), or -1 (through the manager). */
  next: Int32Array
}

/** A member as the loop uses it: its NF, faults, timings, trace notes. */
interface Running {
  nf: CreatedNF
  name: string
  service: number
  next: Int32Array
  gates: number
  faults: NFFaults
  times: BurstTimes
  notes: TraceNotes
  lastTick: number
  /** Whether process() ran since the last tick (timers()), and when timers() last found it so. */
  busy: boolean
  lastBusy: number
  /** Resting (idle()), when idle() asked to be called next. */
  idleDue: number
  /** In a group, on a timed burst: this member's share of it so far. */
  burstNs: number
  burstPackets: number
}

// In a group, each member's own cost is timed on one burst every this many ms (two clock reads
// per packet and member cost more than a small NF itself; even on one burst in 16 they cost a
// group of two trivial NFs ~15 ns a packet under load): enough bursts for the dashboard's
// percentiles (100 a publication), and few clock reads per packet under load.
const MEMBER_TIMING_EVERY_MS = 5
// Member-to-member calls one packet may make in a row before it goes on through the manager: a
// path through a group's members is shorter, unless the links among them form a loop.
const MAX_CALLS = 64

/**
 * Runs NFs over one endpoint's bursts until options.stopping() says so. Alone, an NF's verdict
 * sends the packet on through the manager (but a gate linked to the NF itself, which is a call
 * as between members). In a placement group, a packet starts at the member
 * it was delivered to, and a gate that leads to another member calls that member's process()
 * on it at once, run to completion; a gate that leads out of the group sends it on through the
 * manager as that member's, and so does any gate once the packet's flow hash has changed or it
 * has made MAX_CALLS calls.
 */
export async function runNFs(xio: Xio, group: RunMember[], options: RunOptions): Promise<void> {
  const grouped = group.length > 1
  const members: Running[] = group.map((m) => ({
    ...m,
    gates: m.nf.env.gateCount,
    faults: new NFFaults(m.name, m.nf.env.gateNames),
    times: new BurstTimes(),
    notes: new TraceNotes(m.nf.instance),
    lastTick: -Infinity,
    busy: false,
    lastBusy: -Infinity,
    idleDue: -Infinity,
    burstNs: 0,
    burstPackets: 0,
  }))
  // Which member a delivery is for, by the endpoint id it names: any 16-bit id maps to one (the
  // id is read from packet metadata, which a faulty NF upstream may have written over).
  const memberOf = new Int32Array(65536).fill(0)
  members.forEach((m, i) => (memberOf[m.service] = i))
  const burst = new Uint32Array(options.burst ?? BURST)
  const parked = new ParkedRx(xio, burst.length)
  for (const m of members) m.nf.env.packets.parked = parked
  const p: Packet = { bytes: xio.bytes, view: xio.view, d: 0, at: 0, length: 0, from: 0, inPort: 0, flowHash: 0, handoff: -1 }
  const packetClock = members[0].nf.env.clock === 'packets'
  if (!packetClock) for (const m of members) m.lastTick = m.lastBusy = performance.now()
  let lastYield = performance.now()
  let lastPublish = 0
  // Whether anything the counters show may have moved since the last publication (packets,
  // ticks, a new config): an idle NF publishes nothing, and so need not wake to.
  let changed = true
  // How long the next rx may wait: a tick, or nothing right after a rest (which waited already).
  let waitMs = TICK_MS
  // Whether a member was left to idle() at the last timers(): what its tick() keeps (its clock)
  // may be as old as its last call, so before packets it is ticked first.
  let resting = false
  let lastMemberTiming = -Infinity
  // How long bursts take: alone, the NF's, timed on every burst; in a group, each member's
  // share of the bursts it had a part in, timed on one every MEMBER_TIMING_EVERY_MS.
  const times = new BurstTimes()
  const publish = () => {
    const published: Record<string, number> = {}
    if (!grouped) times.publishInto(published)
    for (const m of members) {
      const instance = m.nf.instance
      const counters = instance.counters ? m.faults.guard('counters', () => instance.counters!()) : undefined
      // The runner's own figures first (how long bursts take, the NF's faults), then the NF's;
      // a group's members each under their name (see groupCounterName).
      const own: Record<string, number> = {}
      if (grouped) m.times.publishInto(own)
      Object.assign(own, m.faults.addTo(counters ?? {}))
      for (const [k, v] of Object.entries(own)) published[grouped ? groupCounterName(m.name, k) : k] = v
    }
    if (Object.keys(published).length) xio.region.publishNfCounters(xio.slot, published)
  }
  // Whether a member is left to idle(): it has one, and has had no packet for QUIET_MS.
  const idling = (m: Running, now: number) => m.nf.instance.idle !== undefined && now - m.lastBusy >= QUIET_MS
  // The members' timers: each ticked every TICK_MS; on the wall clock, one that is idling is
  // called at idle() instead, as often as it asks.
  const timers = (now: number, idleAllowed: boolean) => {
    resting = false
    for (const m of members) {
      const instance = m.nf.instance
      if (m.busy) {
        m.busy = false
        m.lastBusy = now
        m.idleDue = -Infinity
      }
      if (idleAllowed && idling(m, now)) {
        resting = true
        if (now >= m.idleDue) {
          const next = m.faults.guard('idle', () => instance.idle!(now))
          m.idleDue = now + (typeof next === 'number' && next >= 0 ? next : TICK_MS)
          m.lastTick = now
          changed = true
        }
      } else if (instance.tick && now - m.lastTick >= TICK_MS) {
        m.faults.guard('tick', () => instance.tick!(now))
        m.lastTick = now
        changed = true
      }
    }
  }
  // How long the loop may sleep before a member's timer or a publication is due (a tick or less: no rest).
  const restFor = (now: number): number => {
    let due = lastPublish + (changed ? PUBLISH_EVERY_MS : PUBLISH_UNCHANGED_EVERY_MS)
    for (const m of members) {
      const instance = m.nf.instance
      if (idling(m, now)) due = Math.min(due, m.idleDue)
      else {
        if (instance.tick) due = Math.min(due, m.lastTick + TICK_MS)
        if (instance.idle) due = Math.min(due, m.lastBusy + QUIET_MS)
      }
    }
    return Math.min(due - now, options.maxRestMs ?? MAX_REST_MS)
  }
  let failed = false
  const capacity = xio.capacity
  try {
    while (!options.stopping()) {
      // What was parked while a send waited came before anything the ring holds now.
      const n = parked.count ? parked.take(burst) : xio.rxWait(burst, waitMs)
      waitMs = TICK_MS
      // Packets for members that were idle: the ones due a tick get it before them.
      if (resting && n > 0) timers(performance.now(), false)
      xio.warmHeaders(burst, n) // the burst's header misses together, not one per process()
      const started = n > 0 ? performance.now() : 0
      const timeMembers = grouped && n > 0 && started - lastMemberTiming >= MEMBER_TIMING_EVERY_MS
      if (timeMembers) lastMemberTiming = started
      // Marks are looked at only while a trace can be running (a mark left from one is stale).
      const tracing = n > 0 && xio.region.tapsInForce()
      let out = 0  // descriptors going back with this burst: all but the ones the NF held
      for (let i = 0; i < n; i++) {
        const d = burst[i]
        if (packetClock) {
          // now() and ticks follow the packets one by one, so their timing never depends on
          // how they happened to be batched.
          const t = xio.timestampMs(d)
          for (const m of members) m.nf.env.packetMs = t
          timers(t, false)
        }
        const length = xio.length(d)
        const hash = xio.flowHash(d)
        p.d = d
        p.at = xio.offset(d)
        p.length = length
        p.from = xio.from(d)
        p.inPort = xio.inPort(d)
        p.flowHash = hash
        p.handoff = xio.handoffTag(d)
        let m = grouped ? members[memberOf[xio.deliveredTo(d)]] : members[0]
        const traced = tracing && xio.traced(d)
        let note = ''
        let noted = false
        let gate: number
        let calls = 0
        for (;;) {
          const noting = traced && m.notes.start()
          let fault = ''
          const env = m.nf.env
          env.packets.current = d
          m.busy = true
          const before = timeMembers ? performance.now() : 0
          try {
            gate = m.nf.instance.process(p)
          } catch (e) {
            // A bug in the NF costs the packet, not the chain: dropped, counted, said once a while.
            m.faults.threw(e)
            gate = DROP
            fault = `${DROP_REASON}processThrew`
          }
          if (timeMembers) {
            m.burstNs += (performance.now() - before) * 1e6
            m.burstPackets++
          }
          env.packets.current = -1
          if (gate !== HOLD && gate !== DROP && gate !== CONSUMED && !(gate >= 0 && gate < m.gates && gate === (gate | 0))) {
            m.faults.badVerdict(gate)
            gate = DROP
            fault = `${DROP_REASON}badVerdict`
          } else if (gate >= 0 && p.length !== length && !(p.length >= 0 && p.length <= capacity && p.length === (p.length | 0))) {
            // Sent with a length past the buffer (or no length): the manager would refuse it,
            // counted there as oversize and said nowhere. The member's fault, as a bad verdict is.
            m.faults.badLength(p.length, capacity)
            p.length = length
            gate = DROP
            fault = `${DROP_REASON}badLength`
          }
          if (noting || (traced && fault)) {
            const said = fault || m.notes.finish()
            // In a group, each member that had something to say, by name (one with nothing, as a
            // forwarder, would leave a bare 'fwd:').
            note = grouped ? (said ? `${note}${m.name}: ${said} ` : note) : said
            noted = true
          }
          // A link inside the group: the next member decides now, no ring, no manager. Through
          // the manager instead, as between NFs alone, once the packet's flow hash has changed
          // (it may belong to another instance of the group now) or it has gone round the
          // group's links MAX_CALLS times (a loop among members would hold this loop for ever).
          if (!(gate >= 0 && m.next[gate] >= 0) || p.flowHash !== hash || calls++ === MAX_CALLS) break
          p.from = m.service
          p.handoff = -1 // a handoff's tag was for the member it was handed to, not the ones it calls
          m = members[m.next[gate]]
        }
        xio.countDecided()
        if (p.length !== length) xio.setLength(d, p.length)
        if (p.flowHash !== hash) xio.setFlowHash(d, p.flowHash)
        // A held packet keeps its note until it goes (Outbox.send): none, rather than what the
        // buffer's last NF or owner left there, when none was taken.
        if (noted || (traced && gate === HOLD)) xio.noteTrace(d, note.trimEnd())
        if (gate === HOLD) {
          m.nf.env.packets.owned++
          continue
        }
        if (gate === DROP) xio.drop(d, m.service)
        else if (gate === CONSUMED) xio.consume(d, m.service)
        else if (m.service === xio.id) xio.send(d, gate)
        else xio.sendVia(d, m.service, gate)
        burst[out++] = d
      }
      // The burst's end, and the clock for ticks, publication and yields below: one read (~55 ns
      // here), which a round trip through one NF pays on every packet.
      const now = performance.now()
      if (n > 0 && !grouped) times.record((now - started) * 1e6, n)
      if (timeMembers)
        for (const m of members)
          if (m.burstPackets) {
            m.times.record(m.burstNs, m.burstPackets)
            m.burstNs = m.burstPackets = 0
          }
      // A manager that stopped will never drain the ring; leave, and detaching returns the rest.
      if (!transmitAll(xio, burst, out, options.stopping, parked)) return
      if (n > 0) changed = true
      if (!packetClock) timers(now, true)
      for (const m of members) if (!m.nf.env.packets.flush(options.stopping)) return
      // Between bursts, with nothing of the old config's in flight here: a reload's new config.
      const pending = options.nextConfig?.()
      if (pending) {
        reconfigure(members, pending, options)
        changed = true
      }
      // Unchanged, still now and then: an NF's own callbacks may have moved its counters.
      if (now - lastPublish >= (changed ? PUBLISH_EVERY_MS : PUBLISH_UNCHANGED_EVERY_MS)) {
        publish()
        lastPublish = now
        changed = false
      }
      // Signals and timers run only when the event loop gets a turn: a rest's, or one of its own.
      if (n === 0 || now - lastYield >= EVENT_LOOP_EVERY_MS) {
        const restMs = n === 0 && options.rest && !packetClock ? restFor(now) : 0
        // No await since `stopping` and `nextConfig` were asked, so what would change their
        // answers (a signal, a reload's line) runs during the wait, and interrupts it.
        if (restMs > TICK_MS && !pending && !parked.count && !options.stopping()) {
          await options.rest!.wait([xio], restMs)
          waitMs = 0
        } else await new Promise((r) => setImmediate(r))
        lastYield = performance.now()
        if (!xio.managerAlive()) return
      }
    }
  } catch (e) {
    failed = true
    throw e
  } finally {
    // The final figures, for whoever reads the slot after this NF has gone (a replay's summary);
    // not after a failure (cut off by the manager), when the slot may no longer be its own.
    if (!failed) publish()
  }
}

/**
 * Gives the member a pending config is for (the only one, alone) its new config: through its
 * reconfigure(), or as a fresh instance. One that holds packets and has no reconfigure() is
 * asked again after the next burst, until it holds none.
 */
function reconfigure(members: Running[], pending: PendingConfig, options: RunOptions): void {
  const m = pending.member === undefined ? members[0] : members.find((x) => x.name === pending.member)
  if (!m) return pending.done(new Error(`no NF '${pending.member}' runs here`))
  const { nf } = m
  if (pending.rewired && nf.instance.rewired) {
    try {
      nf.instance.rewired()
      pending.done()
    } catch (e) {
      pending.done(e)
    }
    return
  }
  if (!nf.instance.reconfigure && nf.env.packets.owned > 0) return options.retry?.(pending)
  // A re-created instance counts from zero, as a restarted one does (rule numbers may mean
  // other rules now); metrics read that as a counter reset.
  try {
    if (nf.instance.reconfigure) nf.instance.reconfigure(pending.config)
    else nf.instance = nf.module.create(pending.config, nf.env)
    m.idleDue = -Infinity  // what it asked of the runner may no longer hold
    m.notes = new TraceNotes(nf.instance)
    pending.done()
  } catch (e) {
    pending.done(e)
  }
}
