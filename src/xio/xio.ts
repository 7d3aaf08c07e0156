// The NF-side API: X-IO's zero-copy primitives (xio_malloc / xio_tx / xio_rx, §III-C) in
// bursts. Descriptors are buffer indices in a Uint32Array the caller owns; packet bytes are
// read and written in place through `bytes` and `view`, which span the whole region.
//
// Ownership: a descriptor you got from malloc or rx is yours until you tx or free it; after
// that, neither read nor write its buffer. Every call moves a burst, in JavaScript over the
// region (rings.ts).
import { asXioError } from './errors.ts'
import { addon, layout, type NativeEndpoint, type NativeRegion } from './native.ts'
import { burstCount, EndpointBase, TRACE_NOTE_BYTES } from './endpoint-base.ts'

export interface AttachOptions {
  /** The chain's shared data prefix: the region is /dev/shm/xio.<prefix>. */
  prefix: string
  /** The endpoint name this process serves, as the chain declares it. */
  name: string
  /** How long rxWait polls before sleeping on its futex word. */
  spinUs?: number
  /**
   * Which instance of its endpoint this process is, kept across restarts: the manager spreads
   * flows over instances by these numbers, so a restarted instance gets its own flows back.
   * Default: the lowest number no live instance has, given by the manager as it takes the process on.
   */
  instance?: number
  /**
   * Other endpoint names this process serves too: a placement group's process serves each of
   * its NFs, one slot for all (packets for any of them arrive on its RX ring; deliveredTo says
   * for which, sendVia leaves by a gate of any of them).
   */
  also?: string[]
  /**
   * For an endpoint in the manager's own process and thread: whether rxWait's polls, when this
   * thread runs on the manager's CPU, make the manager's passes (default true: a round trip
   * then costs no switch to the manager's thread and back). Meanwhile its thread stands aside,
   * back at once if the wait goes to sleep, else up to 1 ms after it ends (2 if it stalled
   * before its end): false for a thread that goes on to other work between waits (the
   * launcher's ports), whose chain must not wait that long to be routed.
   */
  assistManager?: boolean
}

const M = layout.meta
const encoder = new TextEncoder()
const ACTION_GATE = layout.action.gate << 24
const ACTION_TO = layout.action.to << 24
const ACTION_DROP = layout.action.drop << 24
const ACTION_CONSUMED = (ACTION_DROP | layout.dropConsumed) >>> 0
const DROP_AS_SHIFT = layout.dropAsShift
const ACTION_GATE_OF = layout.action.gateOf << 24
const ACTION_TO_INSTANCE = layout.action.toInstance << 24
const HANDOFF_TAG = layout.handoffTag
const MAX_INSTANCE_NUMBER = layout.maxInstanceNumber
const ACTION_KIND = 0xff000000

/**
 * A note as it fits in TRACE_NOTE_BYTES of UTF-8: whole if it does, else cut after its last
 * whole word that leaves room for "…", so a cut note never shows half a number as if whole.
 */
export function fitNote(why: string): string {
  if (encoder.encode(why).length <= TRACE_NOTE_BYTES) return why
  const room = TRACE_NOTE_BYTES - encoder.encode('…').length
  let cut = why
  while (cut && encoder.encode(cut).length > room) {
    const space = cut.lastIndexOf(' ')
    cut = space > 0 ? cut.slice(0, space) : ''
  }
  return `${cut}…`
}

export class Xio extends EndpointBase {
  /** This endpoint's id (its name's service id), as it appears in `from` and `inPort`. */
  readonly id: number

  constructor(prefix: string, readonly name: string, native: NativeRegion, endpoint: NativeEndpoint, private readonly askedInstance?: number, assistManager = true) {
    super(prefix, native, endpoint, assistManager)
    this.id = endpoint.service
  }

  /**
   * Which instance of its endpoint this is: the number it attached with, or else the one the
   * manager gave it as it took it on (null until then: a manager not running).
   */
  get instance(): number | null {
    if (this.askedInstance !== undefined) return this.askedInstance
    const n = this.u16[(this.region.managerSideOffset(this.slot) + layout.managerSide.instance) >>> 1]
    return n === layout.unnumbered ? null : n
  }

  /** xio_malloc: fills descs[0, n) with fresh buffers; returns how many (fewer if the pool is dry). */
  malloc(descs: Uint32Array, n: number = descs.length): number {
    const rings = this.ringsFor(descs)
    if (rings !== null) return rings.malloc(descs, burstCount(descs, n))
    try {
      return this.endpoint.malloc(descs, n)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /** xio_tx: puts descs[0, n) on the TX ring; returns how many fit (the rest are still yours). */
  tx(descs: Uint32Array, n: number = descs.length): number {
    const rings = this.ringsFor(descs)
    if (rings !== null) return rings.tx(descs, burstCount(descs, n))
    try {
      return this.endpoint.tx(descs, n)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /** Bytes a packet may hold: buffer size less metadata and headroom. */
  get capacity(): number {
    return this.room
  }

  setLength(d: number, n: number): void {
    this.u32[(this.base + d * this.stride + M.length) >>> 2] = n
  }

  /** Sends d out of one of this endpoint's gates when it is transmitted (gate 0 by default). */
  send(d: number, gate: number): void {
    this.u32[(this.base + d * this.stride + M.action) >>> 2] = ACTION_GATE | (gate & 0xffffff)
  }

  /** Sends d out of a gate of another endpoint this one serves (`also`, a placement group): its routes apply. */
  sendVia(d: number, endpointId: number, gate: number): void {
    this.u32[(this.base + d * this.stride + M.action) >>> 2] = (ACTION_GATE_OF | (endpointId << 8) | (gate & 0xff)) >>> 0
  }

  /**
   * Which endpoint a received packet was delivered to: this one, or (serving others too, as a
   * placement group does) the one of them it was sent to.
   */
  deliveredTo(d: number): number {
    const act = this.u32[(this.base + d * this.stride + M.action) >>> 2]
    const kind = (act & ACTION_KIND) >>> 0
    // A member's gate (sent to the group), or a handoff to the member from another instance.
    return kind === ACTION_GATE_OF ? (act >>> 8) & 0xffff : kind === ACTION_TO_INSTANCE ? (act >>> 6) & 0x3f : this.id
  }

  /** Sends d straight to an endpoint by id, whatever the gates say. */
  sendTo(d: number, endpointId: number): void {
    this.u32[(this.base + d * this.stride + M.action) >>> 2] = ACTION_TO | (endpointId & 0xffffff)
  }

  /**
   * Hands d to instance `instance` of an endpoint this one serves (itself, or a member of its
   * placement group), whatever the flow hash would pick: a NAT's instance passing a reply to
   * the one holding its session. The receiver reads `tag` (0 or 1) with handoffTag(). If that
   * instance is not running, the manager drops it as having no route.
   */
  sendToInstance(d: number, endpointId: number, instance: number, tag = 0): void {
    // Out of range, the action's bits would name another instance or endpoint: refused here.
    if (!(Number.isInteger(instance) && instance >= 0 && instance <= MAX_INSTANCE_NUMBER))
      throw new RangeError(`sendToInstance(${d}, ${endpointId}, ${instance}): no such instance (0 to ${MAX_INSTANCE_NUMBER})`)
    if (!(Number.isInteger(endpointId) && endpointId >= 0 && endpointId < layout.maxServices))
      throw new RangeError(`sendToInstance(${d}, ${endpointId}, ${instance}): no such endpoint id (0 to ${layout.maxServices - 1})`)
    const arg = ((endpointId & 0x3f) << 6) | (tag ? HANDOFF_TAG : 0) | (instance & MAX_INSTANCE_NUMBER)
    this.u32[(this.base + d * this.stride + M.action) >>> 2] = (ACTION_TO_INSTANCE | arg) >>> 0
  }

  /** A received packet handed over by another instance: the tag it was sent with (0 or 1); else -1. */
  handoffTag(d: number): number {
    const act = this.u32[(this.base + d * this.stride + M.action) >>> 2]
    return ((act & ACTION_KIND) >>> 0) === ACTION_TO_INSTANCE ? (act & HANDOFF_TAG ? 1 : 0) : -1
  }

  /**
   * Marks d to be dropped (returned to the pool) by the manager when transmitted; `by`, another
   * endpoint this one serves (a placement group's member) that decided so, which a trace names.
   */
  drop(d: number, by = this.id): void {
    this.u32[(this.base + d * this.stride + M.action) >>> 2] = (ACTION_DROP | this.decidedBy(by)) >>> 0
  }

  /** Marks d as consumed: returned to the pool as by drop(), counted apart (it ended here; no loss). */
  consume(d: number, by = this.id): void {
    this.u32[(this.base + d * this.stride + M.action) >>> 2] = (ACTION_CONSUMED | this.decidedBy(by)) >>> 0
  }

  /** A drop's argument naming the member that decided it (native/layout.h kDropAsShift): none for this endpoint itself. */
  private decidedBy(endpointId: number): number {
    return endpointId === this.id ? 0 : (endpointId + 1) << DROP_AS_SHIFT
  }

  setFlowHash(d: number, hash: number): void {
    this.u32[(this.base + d * this.stride + M.flowHash) >>> 2] = hash
  }

  /** Sets the endpoint id the packet entered the chain through (a copy's is its original's). */
  setInPort(d: number, endpointId: number): void {
    this.u16[(this.base + d * this.stride + M.inPort) >>> 1] = endpointId
  }

  /** Capture or creation time in ms, as a number: no allocation, for per-packet use. */
  timestampMs(d: number): number {
    const at = (this.base + d * this.stride + M.timestamp) >>> 2
    return (this.u32[at + 1] * 4294967296 + this.u32[at]) / 1e6
  }

  setTimestamp(d: number, ns: bigint): void {
    this.view.setBigUint64(this.base + d * this.stride + M.timestamp, ns, true)
  }

  /** Whether `xio-chain trace` follows this packet (the manager marked it as it entered the chain). */
  traced(d: number): boolean {
    return this.u32[(this.base + d * this.stride + M.trace) >>> 2] !== 0
  }

  /** For a traced packet: why this endpoint did what it did, as the trace shows it (fitted to 32 bytes). */
  noteTrace(d: number, why: string): void {
    const at = this.base + d * this.stride + M.user
    const field = this.bytes.subarray(at, at + TRACE_NOTE_BYTES)
    field.fill(0)
    encoder.encodeInto(fitNote(why), field)
  }

  /** Endpoint id of a name in this chain, or -1. */
  endpointId(name: string): number {
    return this.region.serviceId(name)
  }

  /** Endpoint id the given gate of this endpoint is wired to, or -1. */
  gateTarget(gate: number): number {
    return this.region.routeOf(this.id, gate)
  }

  /**
   * The native endpoint, for a port whose native threads drive this endpoint's rings (afpacket).
   * While they run, rx, tx, malloc, free and detach here throw: stop the port first.
   */
  get nativeEndpoint(): NativeEndpoint {
    this.fast = null // its native threads drive the rings now: calls here go to the native side, which refuses them
    return this.endpoint
  }

}

/** Attaches this process to a chain by prefix and claims a slot for `name`. */
export async function attach(options: AttachOptions): Promise<Xio> {
  try {
    const region = addon.Region.attach(options.prefix, false)
    const endpoint = new addon.Endpoint(region, options.name, options.spinUs ?? 50, false, options.instance, options.also)
    return new Xio(options.prefix, options.name, region, endpoint, options.instance, options.assistManager ?? true)
  } catch (e) {
    throw asXioError(e)
  }
}
