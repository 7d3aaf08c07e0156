// Running an NF: the rx → process → tx loop over bursts, around an NFModule's per-packet
// decision. One Packet object is refilled for every descriptor, so the loop allocates
// nothing per packet; the action (a gate, or drop) goes into the descriptor's metadata and
// the whole burst goes back to the manager in one tx.
import { addon } from './native.ts'
import { DROP, DROP_REASON, HOLD, type NFEnv, type NFInstance, type NFModule, type Packet, type PacketOut } from './nf-types.ts'
export { defineNF } from './nf-types.ts'
import type { Xio } from './xio.ts'
import { NFFaults } from './nf-faults.ts'
import { BurstTimes } from './burst-times.ts'
import { TraceNotes } from './trace-notes.ts'

export interface RunOptions {
  burst?: number
  /** Checked between bursts; the loop returns once it is true. */
  stopping: () => boolean
  /** What its messages call the NF (default: its endpoint id). */
  name?: string
}

const TICK_MS = 100
const EVENT_LOOP_EVERY_MS = 20
const PUBLISH_EVERY_MS = 500

/**
 * What an NF sends outside process()'s return (held packets, packets of its own making),
 * collected and put on the TX ring with the runner's next burst.
 */
export class Outbox implements PacketOut {
  private readonly pending = new Uint32Array(256)
  private count = 0
  private readonly one = new Uint32Array(1)
  /** The packet process() is deciding (-1: none): its note is the runner's, after process(). */
  current = -1

  constructor(private readonly xio: Xio) {}

  alloc(): Packet | null {
    if (!this.xio.malloc(this.one, 1)) return null
    const d = this.one[0]
    return { bytes: this.xio.bytes, view: this.xio.view, d, at: this.xio.offset(d), length: 0, from: this.xio.id, inPort: this.xio.id, flowHash: 0 }
  }

  send(d: number, gate: number, length: number): void {
    this.xio.setLength(d, length)
    this.xio.send(d, gate)
    this.noteHeld(d, 'sent on after being held')
    this.push(d)
  }

  drop(d: number): void {
    this.xio.drop(d)
    this.noteHeld(d, 'dropped after being held')
    this.push(d)
  }

  /** A traced packet the NF held and now lets go of (a router's, once ARP answered or gave up): say so. */
  private noteHeld(d: number, why: string): void {
    if (d !== this.current && this.xio.region.tapsInForce() && this.xio.traced(d)) this.xio.noteTrace(d, why)
  }

  private push(d: number): void {
    if (this.count === this.pending.length) this.flush(() => false)
    this.pending[this.count++] = d
  }

  /** Puts everything pending on the TX ring; false if it gave up because `stopping` said so. */
  flush(stopping: () => boolean): boolean {
    if (!this.count) return true
    const done = transmitAll(this.xio, this.pending, this.count, stopping)
    this.count = 0
    return done
  }
}

export interface NFEnvWithOutbox extends NFEnv {
  readonly packets: Outbox
  /** How many gates the NF has: a verdict outside [0, gateCount) is a fault. */
  readonly gateCount: number
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

export function nfEnv(xio: Xio, gates: readonly string[], clock: NFClock = 'wall'): NFEnvWithOutbox {
  const env: NFEnvWithOutbox = {
    endpointId: (name) => xio.endpointId(name),
    gateTarget: (gate) => {
      const index = gates.indexOf(gate)
      return index < 0 ? -1 : xio.gateTarget(index)
    },
    now: clock === 'packets' ? () => env.packetMs : () => performance.now(),
    packets: new Outbox(xio),
    gateCount: gates.length,
    clock,
    packetMs: 0,
  }
  return env
}

/** An NF built for an endpoint, with the environment it was built in. */
export interface CreatedNF {
  instance: NFInstance
  env: NFEnvWithOutbox
}

/** Builds the NF from its config for this endpoint; throws NFConfigError on a bad config. */
export function createNF<Config>(xio: Xio, nf: NFModule<Config>, config: Config, clock: NFClock = 'wall'): CreatedNF {
  const env = nfEnv(xio, nf.gates, clock)
  return { instance: nf.create(config, env), env }
}

/**
 * Transmits descs[0, n), waiting for room as long as it takes: the manager always drains.
 * Returns false if it gave up because the manager stopped (or `stopping` said so) meanwhile;
 * detaching then returns what is left.
 */
function transmitAll(xio: Xio, descs: Uint32Array, n: number, stopping: () => boolean): boolean {
  let left = n
  let sent = xio.tx(descs, left)
  for (let tries = 1; sent < left; tries++) {
    addon.schedYield()  // the manager is behind: give it (or whoever shares our CPU) the core
    descs.copyWithin(0, sent, left)
    left -= sent
    sent = xio.tx(descs, left)
    if ((tries & 1023) === 0 && (stopping() || !xio.managerAlive())) return false
  }
  return true
}

/** Runs an NF's rx → process → tx loop until options.stopping() says so. */
export async function runNF(xio: Xio, nf: CreatedNF, options: RunOptions): Promise<void> {
  const { instance, env } = nf
  const gates = env.gateCount
  const faults = new NFFaults(options.name ?? `endpoint ${xio.id}`)
  const burst = new Uint32Array(options.burst ?? 32)
  const p: Packet = { bytes: xio.bytes, view: xio.view, d: 0, at: 0, length: 0, from: 0, inPort: 0, flowHash: 0 }
  const packetClock = env.clock === 'packets'
  let lastTick = packetClock ? -Infinity : performance.now()
  let lastYield = performance.now()
  let lastPublish = 0
  const times = new BurstTimes()
  const notes = new TraceNotes(instance)
  const publish = () => {
    const counters = instance.counters ? faults.guard('counters', () => instance.counters!()) : undefined
    // The runner's own figures first (how long bursts take, the NF's faults), then the NF's.
    const published: Record<string, number> = {}
    times.publishInto(published)
    Object.assign(published, faults.addTo(counters ?? {}))
    if (Object.keys(published).length) xio.region.publishNfCounters(xio.slot, published)
  }
  let failed = false
  try {
    while (!options.stopping()) {
      const n = xio.rxWait(burst, TICK_MS)
      const started = n > 0 ? performance.now() : 0
      // Marks are looked at only while a trace can be running (a mark left from one is stale).
      const tracing = n > 0 && xio.region.tapsInForce()
      let out = 0  // descriptors going back with this burst: all but the ones the NF held
      for (let i = 0; i < n; i++) {
        const d = burst[i]
        if (packetClock) {
          // now() and ticks follow the packets one by one, so their timing never depends on
          // how they happened to be batched.
          const t = xio.timestampMs(d)
          env.packetMs = t
          if (instance.tick && t - lastTick >= TICK_MS) {
            faults.guard('tick', () => instance.tick!(t))
            lastTick = t
          }
        }
        const length = xio.length(d)
        const hash = xio.flowHash(d)
        p.d = d
        p.at = xio.offset(d)
        p.length = length
        p.from = xio.from(d)
        p.inPort = xio.inPort(d)
        p.flowHash = hash
        const traced = tracing && xio.traced(d) && notes.start()
        let gate: number
        let fault = ''
        env.packets.current = d
        try {
          gate = instance.process(p)
        } catch (e) {
          // A bug in the NF costs the packet, not the chain: dropped, counted, said once a while.
          faults.threw(e)
          gate = DROP
          fault = `${DROP_REASON}processThrew`
        }
        env.packets.current = -1
        if (p.length !== length) xio.setLength(d, p.length)
        if (p.flowHash !== hash) xio.setFlowHash(d, p.flowHash)
        if (gate !== HOLD && gate !== DROP && !(gate >= 0 && gate < gates && gate === (gate | 0))) {
          faults.badVerdict(gate)
          gate = DROP
          fault = `${DROP_REASON}badVerdict`
        }
        if (traced) xio.noteTrace(d, fault || notes.finish())
        if (gate === HOLD) continue
        if (gate === DROP) xio.drop(d)
        else xio.send(d, gate)
        burst[out++] = d
      }
      if (n > 0) times.record((performance.now() - started) * 1e6, n)
      // A manager that stopped will never drain the ring; leave, and detaching returns the rest.
      if (!transmitAll(xio, burst, out, options.stopping)) return
      const now = performance.now()
      if (!packetClock && instance.tick && now - lastTick >= TICK_MS) {
        faults.guard('tick', () => instance.tick!(now))
        lastTick = now
      }
      if (!env.packets.flush(options.stopping)) return
      if (now - lastPublish >= PUBLISH_EVERY_MS) {
        publish()
        lastPublish = now
      }
      // Signals and timers run only when the event loop gets a turn.
      if (n === 0 || now - lastYield >= EVENT_LOOP_EVERY_MS) {
        await new Promise((r) => setImmediate(r))
        lastYield = performance.now()
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
