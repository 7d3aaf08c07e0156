// Running an NF: the rx → process → tx loop over bursts, around an NFModule's per-packet
// decision. One Packet object is refilled for every descriptor, so the loop allocates
// nothing per packet; the action (a gate, or drop) goes into the descriptor's metadata and
// the whole burst goes back to the manager in one tx.
import { addon } from './native.ts'
import { DROP, type NFEnv, type NFInstance, type NFModule, type Packet } from './nf-types.ts'
import type { Xio } from './xio.ts'

/** Declares an NF; the identity, there to type the config. */
export function defineNF<Config>(nf: NFModule<Config>): NFModule<Config> {
  return nf
}

export interface RunOptions {
  burst?: number
  /** Checked between bursts; the loop returns once it is true. */
  stopping: () => boolean
  /**
   * The NF's time: 'wall' (the default), or 'packets', each packet's capture timestamp, so a
   * replay expires NAT mappings and conntrack entries exactly as the captures' own time says,
   * however fast or slow the machine replays them.
   */
  clock?: 'wall' | 'packets'
}

const TICK_MS = 100
const EVENT_LOOP_EVERY_MS = 20
const PUBLISH_EVERY_MS = 500

export function nfEnv(xio: Xio, gates: readonly string[]): NFEnv {
  return {
    endpointId: (name) => xio.endpointId(name),
    gateTarget: (gate) => {
      const index = gates.indexOf(gate)
      return index < 0 ? -1 : xio.gateTarget(index)
    },
    now: () => performance.now(),
  }
}

/** Builds the NF from its config for this endpoint; throws NFConfigError on a bad config. */
export function createNF<Config>(xio: Xio, nf: NFModule<Config>, config: Config): NFInstance {
  return nf.create(config, nfEnv(xio, nf.gates))
}

/** Runs an NF's rx → process → tx loop until options.stopping() says so. */
export async function runNF(xio: Xio, instance: NFInstance, options: RunOptions): Promise<void> {
  const burst = new Uint32Array(options.burst ?? 32)
  const p: Packet = { bytes: xio.bytes, view: xio.view, d: 0, at: 0, length: 0, from: 0, inPort: 0, flowHash: 0 }
  const packetClock = options.clock === 'packets'
  let lastTick = packetClock ? -Infinity : performance.now()
  let lastYield = performance.now()
  let lastPublish = 0
  while (!options.stopping()) {
    const n = xio.rxWait(burst, TICK_MS)
    for (let i = 0; i < n; i++) {
      const d = burst[i]
      if (packetClock && instance.tick) {
        // Ticks follow the packets one by one, so their timing never depends on how they
        // happened to be batched.
        const t = xio.timestampMs(d)
        if (t - lastTick >= TICK_MS) {
          instance.tick(t)
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
      const gate = instance.process(p)
      if (gate === DROP) xio.drop(d)
      else xio.send(d, gate)
      if (p.length !== length) xio.setLength(d, p.length)
      if (p.flowHash !== hash) xio.setFlowHash(d, p.flowHash)
    }
    let left = n
    let sent = xio.tx(burst, left)
    for (let tries = 1; sent < left; tries++) {
      addon.schedYield()  // the manager is behind: give it (or whoever shares our CPU) the core
      burst.copyWithin(0, sent, left)
      left -= sent
      sent = xio.tx(burst, left)
      // A manager that stopped will never drain the ring; leave, and detaching returns the rest.
      if ((tries & 1023) === 0 && (options.stopping() || !xio.managerAlive())) return
    }
    const now = performance.now()
    if (!packetClock && instance.tick && now - lastTick >= TICK_MS) {
      instance.tick(now)
      lastTick = now
    }
    if (instance.counters && now - lastPublish >= PUBLISH_EVERY_MS) {
      xio.region.publishNfCounters(xio.slot, instance.counters())
      lastPublish = now
    }
    // Signals and timers run only when the event loop gets a turn.
    if (n === 0 || now - lastYield >= EVENT_LOOP_EVERY_MS) {
      await new Promise((r) => setImmediate(r))
      lastYield = performance.now()
    }
  }
}
