// The contract between an NF's logic and the loop that runs it.
//
// An NF is written as a per-packet decision over bytes in place: it never sees rings or
// buffers. The runner (defineNF) moves bursts and fills one reused Packet per NF for each
// descriptor, so the hot path allocates nothing.

/** Returned by process() to drop the packet; any other return is an output gate number. */
export const DROP = -1
/**
 * Returned by process() to keep the packet for later: the NF sends or drops it itself with
 * env.packets (a router holding packets while it resolves their next hop). Until then it is
 * the NF's, and it must not keep more than it can account for.
 */
export const HOLD = -2
/**
 * Returned by process() for a packet that ends here, as it was meant to: ARP a router learnt
 * from, a probe answered in another buffer. Freed as by DROP, but counted apart
 * (xio_endpoint_consumed_total), not among the endpoint's drops, which count losses.
 */
export const CONSUMED = -3

/** One packet as an NF sees it. One object per NF, refilled for every packet: never keep it. */
export interface Packet {
  /** The whole region (or, in tests, any buffer); the frame is bytes[at, at + length). */
  bytes: Uint8Array
  view: DataView
  /** Descriptor (pool buffer index). */
  d: number
  /** Offset of the first frame byte (the Ethernet header) in bytes. */
  at: number
  /** Frame length; an NF that grows or shrinks the frame sets it. */
  length: number
  /** Endpoint id (service) that sent this packet to us. */
  from: number
  /** Endpoint id of the port where the packet entered the chain. */
  inPort: number
  /** Flow hash; an NF may set it so the next hop picks instances by flow. */
  flowHash: number
  /**
   * Handed over by another instance of this endpoint (packets.toInstance): the tag it was
   * handed with, 0 or 1; -1 (or absent) if not.
   */
  handoff?: number
}

/** What an NF may ask of the chain it runs in. */
export interface NFEnv {
  /** Endpoint id of a named endpoint, or -1 if the chain has none by that name. */
  endpointId(name: string): number
  /** Endpoint id that one of this NF's gates leads to, or -1 if the gate is not wired. */
  gateTarget(gate: string): number
  /** Monotonic milliseconds (injected so tests control time). */
  now(): number
  /**
   * Says something about the config that is allowed but likely not meant (at `path` in it);
   * `validate` prints these as warnings. Optional: a runner may ignore them.
   */
  warn?(path: string, message: string): void
  /**
   * Packets beyond the one process() decides on: ones it held, and new ones of its own
   * making (an ARP request, an ICMP error). Absent where no packets run (validate).
   */
  readonly packets?: PacketOut
  /**
   * Memory that outlives this process, for what an NF must not lose when it dies (NAT
   * sessions, conntrack entries): `bytes` zeroed bytes the first time; after a restart of the
   * same instance of the same endpoint (a kill -9 included), or its re-creation by a reload in
   * the same process, the bytes as the last one left them, if it asked with the same
   * `layoutTag` and size. A tag or size that differs (a capacity changed) gets zeroed bytes,
   * never bytes laid out otherwise: the tag names the layout, so change it with the layout.
   * Ask once, in create(), once the config is checked. The NF lays its typed arrays over it
   * and is its only writer; the chain removes it when it stops (a new chain starts afresh).
   * The process may die between any two of its stores: lay the state out so that every prefix
   * of them reads back sound (src/nfs/lib/state.ts says how the built-in NFs do).
   * Absent where nothing outlives create() (validate, a bench's own env): use fresh memory.
   */
  state?(bytes: number, layoutTag: string): ArrayBuffer
  /**
   * Which instance of its endpoint this is (0 to instances - 1, the same across restarts) and
   * how many the chain runs. The manager spreads flows over instances by the flow hash their
   * sender set; an NF whose state the packets of one flow must all find, but which rewrites
   * what that hash is taken over (a NAT: replies come back to its external address), splits
   * its state between instances by a key the packets carry both ways, and hands a packet to
   * the instance that holds its state with packets.toInstance. `validate` builds the NF as
   * instance 0, so create() can refuse a config that many instances cannot share. Absent where
   * no chain runs the NF (a bench, a harness not told): one instance.
   */
  readonly placement?: { readonly instance: number; readonly instances: number }
}

/** Sending packets outside process()'s return. What is sent leaves with the current burst. */
export interface PacketOut {
  /**
   * A fresh packet to fill in (length 0), or null when the pool has none to spare. The Packet
   * is its buffer's, as an mbuf is: yours until you send or drop it, then reset and given out
   * again with the buffer (keep p.d or copy what you need, not the object).
   */
  alloc(): Packet | null
  /**
   * A fresh packet holding a copy of p (its bytes and length), with p's inPort and flowHash, as
   * DPDK's rte_pktmbuf_copy keeps an mbuf's port and hash: the copy is of a packet that came in
   * where p did, not one entering the chain here; null when the pool has none to spare.
   */
  copy(p: Packet): Packet | null
  /** Sends a held or allocated packet of `length` bytes out of a gate. */
  send(d: number, gate: number, length: number): void
  /** Gives a held or allocated packet back to the pool, counted as the NF's drop. */
  drop(d: number): void
  /**
   * Hands a held packet (or the one process() is deciding, which then returns HOLD) of
   * `length` bytes to another instance of this endpoint (see NFEnv.placement), where it is
   * decided afresh, with Packet.handoff set to `tag` (0 or 1: what the NF needs to know of
   * it, a NAT's inbound or outbound). If that instance is not running (restarting), the
   * manager drops the packet, counted as no route.
   */
  toInstance(d: number, instance: number, length: number, tag?: number): void
}

export type Counters = Record<string, number>

/**
 * The longest counter name shown whole: the region keeps 79 bytes a name, and in a placement
 * group a member's counters are published behind `@<endpoint>/` (up to 33 bytes).
 */
export const COUNTER_NAME_BYTES = 46

/** Counters named so count packets dropped, by the reason after it: see NFInstance.counters. */
export const DROP_REASON = 'drop/'

export interface NFInstance {
  process(p: Packet): number
  /** Called about every 100 ms, for timers (mapping expiry, connection tracking); see idle(). */
  tick?(nowMs: number): void
  /**
   * Lets an idle chain sleep. Once no packet has come for about a second, the runner calls
   * idle() instead of tick(): it does what is due (what tick() does, and more if that saves
   * calls: a sweep of the whole table) and returns how many ms it can do without another call
   * while no packet comes (Infinity: none until one does). The runner then calls it no sooner
   * than that unless packets come; with them, ticks resume every 100 ms, the first before the
   * first packet. Without idle(), an NF that has tick() is ticked every 100 ms for ever, so its
   * process wakes ten times a second at rest. Not called on the packets' clock (a replay), nor
   * while packets come: an NF that keeps time of its own needs tick() too.
   */
  idle?(nowMs: number): number
  /**
   * Named totals for the dashboard and metrics, e.g. per-rule hits; called about twice a second.
   * A counter named `drop/<reason>` counts packets dropped for that reason (`drop/noRoute`,
   * `drop/rule/3`): every drop an NF makes should be under one, so operators see why packets
   * go missing (the dashboard lists the top reasons, Prometheus gets xio_nf_drops_total).
   */
  counters?(): Counters
  /**
   * For `xio-chain trace`: a few words on the packet process() has just decided, beyond what
   * its counters say (a NAT names the mapping it created or used). Called only for packets a
   * trace follows, right after process(), so it may allocate.
   */
  explain?(): string
  /**
   * Takes a new config while the NF runs (`xio-chain reload`), already checked against the
   * NF's schema; throw NFConfigError to refuse it (the reload then fails, naming the field, and
   * the NF runs on as it was). Optional: without it the runner builds a fresh instance with
   * create(config, env) between two bursts and sends it the next packet, so what the old one
   * kept in memory of its own is gone (what it kept in env.state is not). An NF that holds
   * packets is switched only once it holds none.
   */
  reconfigure?(config: unknown): void
  /**
   * A reload rewired the NF's gates (its config unchanged): called between two bursts, once the
   * new routes are in force, so an NF that keeps what env.gateTarget() answered reads it again,
   * keeping everything else (counters included). Optional: without it the runner builds the NF
   * again on the config it has, as reconfigure() says, which also reads gate targets afresh.
   */
  rewired?(): void
}

export interface NFModule<Config> {
  /** What it is called in messages (a module's own name for itself; built-ins go by their kind). */
  name?: string
  /** Output gate names; gate number = index. */
  gates: readonly string[]
  /**
   * JSON Schema of its config. A chain's validator checks an endpoint's config against it at
   * `validate` and `run`, errors naming the field; create() then checks what a schema cannot.
   */
  config?: Record<string, unknown>
  /**
   * Why this NF runs as one instance only, if it must: a spec that gives it more is refused,
   * with this reason. The manager spreads a flow over instances by the flow hash its sender
   * set, so an NF whose state a flow's replies must find, but which rewrites the addresses that
   * hash is taken over (a NAT), would meet the replies at any of its instances.
   */
  singleInstance?: string
  /**
   * Why this NF's instance count cannot change while the chain runs, if it cannot (a NAT splits
   * its sessions' ports by it): a reload that changes it is refused, with this reason.
   */
  fixedInstances?: string
  /** Validates and compiles the config (throws NFConfigError naming the field) and builds the NF. */
  create(config: Config, env: NFEnv): NFInstance
}

/** Declares an NF; the identity, there to type the config. */
export function defineNF<Config>(nf: NFModule<Config>): NFModule<Config> {
  return nf
}

// A module of one's own may be loaded with its own copy of this file (tsx compiles each
// TypeScript module graph apart; a project may install its own xio-chain): its NFConfigError
// is then another class. A brand in the global symbol registry makes `instanceof` hold across
// every copy.
const CONFIG_ERROR = Symbol.for('xio-chain.NFConfigError')

/** A config mistake, naming the JSON path of the field (e.g. /rules/2/dstPort). */
export class NFConfigError extends Error {
  readonly [CONFIG_ERROR] = true

  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`)
    this.name = 'NFConfigError'
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [CONFIG_ERROR]?: unknown })[CONFIG_ERROR] === true
  }
}
