// The socket stack of one process on one chain (the X-IO stack of §III-D): one endpoint that
// multiplexes every socket of this process, a connection table keyed by connection id (checked
// against the peer's service and id: the 4-tuple of Fig. 6), the receive pump on the event loop
// and the transmit path.
//
// Receive: bursts from the RX ring, each message dispatched to its connection; consecutive
// DATA messages of one connection in a burst are copied out into one Buffer (one copy; the pool
// buffers go back at once, so a slow reader holds none of them). When the ring is empty the
// pump polls a little longer (spinUs) and then waits for the ring off the event loop
// (Xio.readable: a futex wait on a pool thread), which wakes it once for however many messages
// arrived meanwhile: the batch wake-up.
//
// Transmit: a write is copied into pool buffers as it is made. Writes of one connection in one
// tick share a buffer (an HTTP head and its body go out together), and every buffer filled in
// a tick goes out in one tx at the end of it. Only a dry pool or a full TX ring makes writers
// wait; what is staged then is retried, and the writers resume when it has gone.
import type { Xio } from '../xio/xio.ts'
import type { Layout } from '../xio/native.ts'
import { XioError } from '../xio/errors.ts'
import { credit, Flag, HEADER, MAGIC, readHeader, Type, writeHeader, type Header } from './wire.ts'
import { liveInstances, ownIdentity, slotAlive, type SlotIdentity } from './liveness.ts'
import { BufferCache } from './buffers.ts'

/** What the stack needs of a connection; XioSocket is one. */
export interface Connection {
  id: number
  /** Peer's service id, and its connection id once it answered. */
  peerService: number
  peerId: number
  peer: SlotIdentity | null
  port: number
  /** 'dialing' until ACCEPT; 'open' after; 'closed' once it left the table. */
  phase: 'dialing' | 'open' | 'closed'
  flow: number
  /** Peer's receive window, bytes sent, and the peer's last word on how many it consumed. */
  peerWindow: number
  sent: number
  peerConsumed: number
  /** This side's receive window and how many bytes of it were consumed (last advertised). */
  window: number
  advertised: number
  consumed(): number
  /** Transmit state: the buffer being filled this tick (-1: none) and how full it is. */
  txDesc: number
  txFill: number
  onAccept(h: Header, from: number): void
  onData(chunk: Buffer): void
  /** Lending (zero-copy reads): DATA is handed over in its pool buffer, d, which the connection frees. */
  readonly lending: boolean
  onLent(d: number, view: Buffer): void
  onFin(): void
  onReset(refused: boolean): void
  /** Credit or buffers came back: the connection may send again. */
  onWritable(): void
}

export interface Listener {
  /** A DIAL for this port: returns the accepted connection, or null to refuse it. */
  accept(stack: Stack, h: Header, from: number): Connection | null
  /** The stack left the chain under the listener (the chain stopped, the endpoint was cut off). */
  stackClosed(error: Error): void
}

export interface StackOptions {
  /** Receive window per connection in bytes (default 256 KiB): what a slow reader may hold. */
  window?: number
  /** µs the pump keeps polling an empty ring before it sleeps (default $XIO_NET_SPIN_US, else 200). */
  spinUs?: number
}

export const DEFAULT_WINDOW = 256 * 1024
const BURST = 64
/** Bursts taken in one turn of the event loop before it yields to other work. */
const TURN_BURSTS = 16
/** Descriptors staged and not yet taken by the TX ring beyond which writers wait. */
const STAGED_LIMIT = 4096
const LIVENESS_MS = 25
/** How long a blocked transmit is retried every turn of the event loop before every millisecond. */
const RETRY_SPIN_MS = 2

let exitHooked = false

export class Stack {
  private static stacks = new Map<string, Promise<Stack>>()
  private static live = new Set<Stack>()

  /** The stack of this process on `prefix`, attached as `name` (shared by every socket on it). */
  static get(prefix: string, name: string, options: StackOptions = {}): Promise<Stack> {
    let p = Stack.stacks.get(prefix)
    if (!p) {
      if (!exitHooked) {
        // A pending readable() is a thread-pool job that ends only when the endpoint detaches,
        // and Node joins its pool threads at exit: process.exit() with a socket open would hang.
        process.on('exit', () => {
          for (const stack of Stack.live) stack.close(null)
        })
        exitHooked = true
      }
      p = loadNative().then(async (n) => new Stack(await n.attach({ prefix, name, spinUs: 0 }), n, options))
      Stack.stacks.set(prefix, p)
      p.catch(() => Stack.stacks.delete(prefix))
    }
    return p.then((stack) => {
      if (stack.name !== name)
        throw Object.assign(new Error(`this process is attached to prefix '${prefix}' as '${stack.name}', not '${name}': one endpoint per process serves all its sockets`), { code: 'EADDRINUSE' })
      return stack
    })
  }

  /** The stack attached on `prefix` now (or being attached), if any. */
  static current(prefix: string): Promise<Stack> | undefined {
    return Stack.stacks.get(prefix)
  }

  readonly name: string
  readonly prefix: string
  readonly service: number
  readonly identity: SlotIdentity
  readonly window: number
  readonly payloadRoom: number
  private xio: Xio | null
  private readonly table = new Map<number, Connection>()
  private readonly listeners = new Map<number, Listener>()
  private nextId = (Math.random() * 0xffff_ffff) >>> 0
  private refs = 0
  private readonly rxBurst = new Uint32Array(BURST)
  private readonly freeBurst = new Uint32Array(BURST)
  /** Which messages of the burst in hand were lent to their connection (not freed with the rest). */
  private readonly lentNow = new Uint8Array(BURST)
  private readonly buffers: BufferCache
  /** The pump waits for the RX ring (the process is idle as far as the stack knows). */
  private sleeping = false
  private readonly txBurst = new Uint32Array(BURST * 4)
  private staged: number[] = []
  private stagedHead = 0
  private readonly dirty: Connection[] = []
  private readonly windowCheck = new Set<Connection>()
  private readonly starved = new Set<Connection>()
  private flushQueued = false
  private retryTimer: { cancel(): void } | null = null
  private retries = 0
  private blockedSince = 0
  private livenessTimer: NodeJS.Timeout | null = null
  private detachTimer: NodeJS.Immediate | null = null
  private readonly spinNs: bigint
  /** Messages that were no message of this protocol (a frame an NF routed here), dropped. */
  stray = 0

  private readonly layout: Layout

  private constructor(xio: Xio, private readonly native: Native, options: StackOptions) {
    this.xio = xio
    this.layout = native.layout
    this.buffers = new BufferCache(xio, native.layout, native.addon.schedYield)
    this.name = xio.name
    this.prefix = xio.prefix
    this.service = xio.id
    this.identity = ownIdentity(native.layout, xio.region, xio.slot, xio.id)
    this.window = Math.min(options.window ?? DEFAULT_WINDOW, 0x4000_0000)
    this.payloadRoom = xio.capacity - HEADER
    this.spinNs = BigInt(Math.round((options.spinUs ?? Number(process.env.XIO_NET_SPIN_US ?? 200)) * 1000))
    if (this.payloadRoom < 64) {
      xio.detach()
      throw new XioError('BAD_CONFIG', `pool buffers of prefix '${this.prefix}' hold ${xio.capacity} bytes: too few for sockets`)
    }
    Stack.live.add(this)
    void this.pump()
  }

  /** Endpoint id of a service name in this chain, or -1. */
  serviceId(name: string): number {
    return this.xio ? this.xio.endpointId(name) : -1
  }

  /** A service's name in this chain ('' if none). */
  serviceName(id: number): string {
    return this.xio ? this.xio.region.serviceName(id) : ''
  }

  /** Live instances (processes) of a service. */
  instancesOf(service: number): number {
    return this.xio ? liveInstances(this.layout, this.xio.region, service) : 0
  }

  /** Whether anybody could answer a dial to this service now. */
  serviceLive(service: number): boolean {
    return this.xio !== null && liveInstances(this.layout, this.xio.region, service) > 0
  }

  // --- lifetime: the endpoint stays attached while anything (a listener, a socket) uses it --

  ref(): void {
    this.refs++
    if (this.detachTimer) clearImmediate(this.detachTimer)
    this.detachTimer = null
  }

  unref(): void {
    if (--this.refs > 0) return
    // Next turn, so a socket closed and another opened in one tick keep the same endpoint.
    this.detachTimer ??= setImmediate(() => {
      this.detachTimer = null
      if (this.refs <= 0) this.close(null)
    })
  }

  listen(port: number, listener: Listener): void {
    if (this.listeners.has(port))
      throw Object.assign(new Error(`listen EADDRINUSE: service '${this.name}' port ${port} on prefix '${this.prefix}' already has a listener`), { code: 'EADDRINUSE' })
    this.listeners.set(port, listener)
  }

  unlisten(port: number, listener: Listener): void {
    if (this.listeners.get(port) === listener) this.listeners.delete(port)
  }

  /** Puts a connection in the table under a fresh id. */
  register(conn: Connection): void {
    do this.nextId = (this.nextId + 1) >>> 0
    while (this.nextId === 0 || this.table.has(this.nextId))
    conn.id = this.nextId
    conn.flow = mix(this.service * 0x10001 + conn.id)
    this.table.set(conn.id, conn)
    if (!this.livenessTimer) {
      this.livenessTimer = setInterval(() => this.checkPeers(), LIVENESS_MS)
      this.livenessTimer.unref()
    }
  }

  /**
   * Takes a connection out of the table: messages for it from now on are answered with RST.
   * What it wrote this tick still goes, unless the peer is gone (reset): then it goes back.
   */
  unregister(conn: Connection, reset = false): void {
    if (this.table.get(conn.id) === conn) this.table.delete(conn.id)
    this.windowCheck.delete(conn)
    this.starved.delete(conn)
    if (conn.txDesc >= 0) {
      if (reset) {
        this.release(conn.txDesc)
        conn.txDesc = -1
      } else this.finishData(conn)
    }
    conn.phase = 'closed'
    if (!this.table.size && this.livenessTimer) {
      clearInterval(this.livenessTimer)
      this.livenessTimer = null
    }
  }

  get connections(): number {
    return this.table.size
  }

  // --- transmit ----------------------------------------------------------------------------

  dial(conn: Connection): void {
    this.control(conn.peerService, { type: Type.Dial, flags: 0, dst: 0, src: conn.id, consumed: 0, window: conn.window, port: conn.port, slot: this.identity.slot, generation: this.identity.generation }, conn.flow)
  }

  acceptReply(conn: Connection): void {
    this.control(conn.peerService, { type: Type.Accept, flags: 0, dst: conn.peerId, src: conn.id, consumed: 0, window: conn.window, port: conn.port, slot: this.identity.slot, generation: this.identity.generation }, conn.flow)
  }

  fin(conn: Connection): void {
    if (conn.txDesc >= 0) this.finishData(conn)
    this.control(conn.peerService, this.header(conn, Type.Fin), conn.flow)
  }

  reset(conn: Connection): void {
    if (conn.txDesc >= 0) this.finishData(conn)
    this.control(conn.peerService, this.header(conn, Type.Rst), conn.flow)
  }

  /** The receiving side consumed data (read, or let the stream buffer drain): maybe grant credit. */
  consumedChanged(conn: Connection): void {
    if (conn.phase !== 'open') return
    this.windowCheck.add(conn)
    this.scheduleFlush()
  }

  /**
   * Copies bytes [from, end) of chunk into pool buffers as far as the peer's credit, the pool
   * and the TX ring allow; returns how many it took. A connection that got fewer than it asked
   * for is called back (onWritable) when credit or room comes.
   */
  send(conn: Connection, chunk: Uint8Array, from: number): number {
    const xio = this.xio
    if (!xio || conn.phase !== 'open') return 0
    let at = from
    const end = chunk.length
    while (at < end) {
      const allowed = credit(conn.peerWindow, conn.sent, conn.peerConsumed)
      if (allowed <= 0) break  // onWritable when the peer's WINDOW (or a DATA) raises it
      if (conn.txDesc < 0) {
        // Buffers for what can go now, in one malloc: a 64 KiB write takes 36 of them.
        const wanted = Math.ceil(Math.min(end - at, allowed) / this.payloadRoom)
        if (this.staged.length - this.stagedHead >= STAGED_LIMIT || !this.alloc(conn, wanted)) {
          this.starved.add(conn)
          this.scheduleRetry()
          break
        }
      }
      const n = Math.min(this.payloadRoom - conn.txFill, allowed, end - at)
      xio.bytes.set(chunk.subarray(at, at + n), xio.offset(conn.txDesc) + HEADER + conn.txFill)
      conn.txFill += n
      conn.sent += n
      at += n
      if (conn.txFill === this.payloadRoom) this.finishData(conn)
    }
    this.scheduleFlush()
    return at - from
  }

  // --- zero copy: a pool buffer lent to the application to write its message in place ------

  /** A pool buffer's payload area, `n` bytes, as a Buffer over the region (no copy); null if the pool is dry. */
  lend(n: number): { desc: number; view: Buffer } | null {
    const xio = this.xio
    if (!xio || n > this.payloadRoom) return null
    const d = this.buffers.take(1)
    if (d < 0) return null
    return { desc: d, view: Buffer.from(xio.bytes.buffer, xio.offset(d) + HEADER, n) }
  }

  /** The descriptor whose payload a lent view is, or -1 if the chunk is no view of this region's buffers. */
  descOf(chunk: Uint8Array): number {
    const xio = this.xio
    if (!xio || chunk.buffer !== xio.bytes.buffer) return -1
    const d = (chunk.byteOffset - HEADER - xio.offset(0)) / xio.region.bufferStride
    return Number.isInteger(d) ? d : -1
  }

  /**
   * Sends a lent buffer as it is (its first `n` bytes), after what the connection already
   * wrote; false while the peer's credit is short of n (onWritable says when to try again).
   */
  sendLent(conn: Connection, d: number, n: number): boolean {
    const xio = this.xio
    // A buffer larger than a tiny window goes once nothing is outstanding: over by less than one buffer.
    if (!xio || conn.phase !== 'open' || credit(conn.peerWindow, conn.sent, conn.peerConsumed) < Math.min(n, conn.peerWindow)) return false
    if (conn.txDesc >= 0) this.finishData(conn)
    const consumed = conn.consumed()
    writeHeader(xio.view, xio.offset(d), { type: Type.Data, flags: 0, dst: conn.peerId, src: conn.id, consumed, window: 0, port: 0, slot: 0, generation: 0 })
    conn.advertised = consumed
    xio.setLength(d, HEADER + n)
    xio.sendTo(d, conn.peerService)
    xio.setFlowHash(d, conn.flow)
    conn.sent += n
    this.staged.push(d)
    this.scheduleFlush()
    return true
  }

  /** A lent buffer that will not be sent (its socket closed first), or a received one its reader released, goes back to the pool. */
  release(d: number): void {
    if (this.xio) this.buffers.release(d)
  }

  /** A buffer for the connection to fill, from the cache (refilled with up to `wanted` at once). */
  private alloc(conn: Connection, wanted: number): boolean {
    const d = this.buffers.take(wanted)
    if (d < 0) return false
    conn.txDesc = d
    conn.txFill = 0
    this.dirty.push(conn)
    return true
  }

  private header(conn: Connection, type: number): Header {
    return { type, flags: 0, dst: conn.peerId, src: conn.id, consumed: conn.consumed(), window: 0, port: conn.port, slot: 0, generation: 0 }
  }

  /** Closes the connection's open buffer: header (with the credit it grants), length, destination; staged. */
  private finishData(conn: Connection): void {
    const xio = this.xio!
    const d = conn.txDesc
    conn.txDesc = -1
    const consumed = conn.consumed()
    writeHeader(xio.view, xio.offset(d), { type: Type.Data, flags: 0, dst: conn.peerId, src: conn.id, consumed, window: 0, port: 0, slot: 0, generation: 0 })
    conn.advertised = consumed
    xio.setLength(d, HEADER + conn.txFill)
    xio.sendTo(d, conn.peerService)
    xio.setFlowHash(d, conn.flow)
    this.staged.push(d)
  }

  /** A message with no payload. A dry pool keeps it waiting (retried), never loses it. */
  private control(to: number, h: Header, flow: number): void {
    const xio = this.xio
    if (!xio) return
    const d = this.buffers.take(1)
    if (d < 0) {
      this.pendingControl.push({ to, h, flow })
      this.scheduleRetry()
      return
    }
    writeHeader(xio.view, xio.offset(d), h)
    xio.setLength(d, HEADER)
    xio.sendTo(d, to)
    xio.setFlowHash(d, flow)
    this.staged.push(d)
    this.scheduleFlush()
  }
  private pendingControl: { to: number; h: Header; flow: number }[] = []

  private scheduleFlush(): void {
    if (this.flushQueued) return
    this.flushQueued = true
    queueMicrotask(() => this.flush())
  }

  /** End of a tick: every open buffer and credit grant staged, and all of it handed to the TX ring. */
  flush(): void {
    this.flushQueued = false
    const xio = this.xio
    if (!xio) return
    if (this.pendingControl.length) {
      const waiting = this.pendingControl
      this.pendingControl = []
      for (const c of waiting) this.control(c.to, c.h, c.flow)
    }
    for (const conn of this.dirty) if (conn.txDesc >= 0) this.finishData(conn)
    this.dirty.length = 0
    if (this.windowCheck.size) {
      for (const conn of this.windowCheck) {
        if (conn.phase !== 'open') continue
        const consumed = conn.consumed()
        // A quarter of the window: a reader that keeps up grants credit long before its peer runs out.
        if (((consumed - conn.advertised) >>> 0) >= conn.window / 4) {
          this.control(conn.peerService, this.header(conn, Type.Window), conn.flow)
          conn.advertised = consumed
        }
      }
      this.windowCheck.clear()
    }
    this.transmit()
    this.buffers.endTick()
    if (this.sleeping) this.buffers.giveBack()
  }

  private transmit(): void {
    const xio = this.xio!
    while (this.stagedHead < this.staged.length) {
      const n = Math.min(this.staged.length - this.stagedHead, this.txBurst.length)
      for (let i = 0; i < n; i++) this.txBurst[i] = this.staged[this.stagedHead + i]
      const k = xio.tx(this.txBurst, n)
      this.stagedHead += k
      if (k < n) break
    }
    if (this.stagedHead === this.staged.length) {
      this.staged.length = 0
      this.stagedHead = 0
    } else if (this.stagedHead > 4096) {
      this.staged = this.staged.slice(this.stagedHead)
      this.stagedHead = 0
    }
    if (this.stagedHead < this.staged.length || this.pendingControl.length) {
      this.scheduleRetry()
      return
    }
    if (this.starved.size) this.wakeStarved()
    if (!this.retryTimer) this.retries = 0  // else still blocked (the cache ran dry again): keep backing off
  }

  private wakeStarved(): void {
    const waiting = [...this.starved]
    this.starved.clear()
    for (const conn of waiting) if (conn.phase === 'open') conn.onWritable()
  }

  // The TX ring was full or the pool dry: the manager drains the one and refills the other
  // within microseconds unless the receiver is slow, so look again soon, then less often.
  private scheduleRetry(): void {
    if (this.retryTimer) return
    if (this.retries === 0) this.blockedSince = performance.now()
    const again = () => {
      this.retryTimer = null
      this.retries++
      this.flush()
      if (this.starved.size && !this.retryTimer) this.wakeStarved()
    }
    // The manager refills an endpoint's cache within microseconds while the pool has buffers:
    // look again next turn. A full TX ring (a slow receiver) or a dry pool: every millisecond.
    const refilling = this.stagedHead === this.staged.length && this.xio !== null && this.xio.region.header32('poolFree') > 0
    if (refilling || performance.now() - this.blockedSince < RETRY_SPIN_MS) {
      const t = setImmediate(again)
      this.retryTimer = { cancel: () => clearImmediate(t) }
    } else {
      const t = setTimeout(again, 1)
      this.retryTimer = { cancel: () => clearTimeout(t) }
    }
  }

  // --- receive -----------------------------------------------------------------------------

  private async pump(): Promise<void> {
    let idleSince = process.hrtime.bigint()
    while (this.xio) {
      let moved = 0
      try {
        for (let i = 0; i < TURN_BURSTS && this.xio; i++) {
          const n = this.poll()
          moved += n
          if (n < BURST) break
        }
      } catch (e) {
        if (e instanceof XioError) {
          this.close(e)
          return
        }
        throw e
      }
      if (!this.xio) return
      if (moved) {
        idleSince = process.hrtime.bigint()
        await turn()
        continue
      }
      // An empty ring: look again for spinNs, through the event loop (other I/O runs between
      // looks) and giving the core away each time (on a machine of few cores the peer we wait
      // for may need it), then sleep until the manager delivers.
      if (this.spinNs > 0n && process.hrtime.bigint() - idleSince < this.spinNs) {
        this.native.addon.schedYield()
        await turn()
        continue
      }
      try {
        this.buffers.giveBack()
        this.sleeping = true
        await this.xio.readable()
        this.sleeping = false
      } catch (e) {
        this.close(e as Error)
        return
      }
      idleSince = process.hrtime.bigint()
    }
  }

  /** One burst from the RX ring, dispatched; returns how many messages it held. */
  private poll(): number {
    const xio = this.xio!
    const burst = this.rxBurst
    const n = xio.rx(burst)
    if (!n) return 0
    let gathering: Connection | null = null
    let gatherFirst = 0, gatherBytes = 0
    // Consecutive DATA of one connection become one chunk: one copy, one 'data' event.
    const deliver = (upTo: number) => {
      if (!gathering) return
      const conn = gathering
      gathering = null
      const chunk = Buffer.allocUnsafe(gatherBytes)
      let at = 0
      for (let j = gatherFirst; j < upTo; j++) {
        const d = burst[j]
        const len = xio.length(d) - HEADER
        if (len <= 0) continue
        const from = xio.offset(d) + HEADER
        chunk.set(xio.bytes.subarray(from, from + len), at)
        at += len
      }
      if (conn.phase === 'open') handing(() => conn.onData(chunk))
    }
    try {
      const view = xio.view
      for (let i = 0; i < n; i++) {
        const d = burst[i]
        const length = xio.length(d)
        const at = xio.offset(d)
        const from = xio.from(d)
        // DATA, the common case, read in place; other messages (and strays) through readHeader.
        if (length >= HEADER && view.getUint8(at) === Type.Data && view.getUint16(at + 2, true) === MAGIC) {
          const conn = this.table.get(view.getUint32(at + 4, true))
          if (conn && conn.phase === 'open' && conn.peerService === from && conn.peerId === view.getUint32(at + 8, true)) {
            if (conn.lending && length > HEADER) {
              deliver(i)
              this.creditFrom(conn, view.getUint32(at + 12, true))
              this.lentNow[i] = 1  // the connection frees it, once its reader has done with it
              handing(() => conn.onLent(d, Buffer.from(xio.bytes.buffer, at + HEADER, length - HEADER)))
              continue
            }
            if (gathering !== conn) {
              deliver(i)
              gathering = conn
              gatherFirst = i
              gatherBytes = 0
            }
            gatherBytes += length - HEADER
            this.creditFrom(conn, view.getUint32(at + 12, true))
            continue
          }
        }
        deliver(i)
        const h = readHeader(view, at, length)
        if (h) handing(() => this.dispatch(h, from))
        else this.stray++
      }
      deliver(n)
    } finally {
      let k = 0
      for (let i = 0; i < n; i++) {
        if (this.lentNow[i]) this.lentNow[i] = 0
        else this.freeBurst[k++] = burst[i]
      }
      xio.free(this.freeBurst, k)
    }
    return n
  }

  private creditFrom(conn: Connection, consumed: number): void {
    if (consumed === conn.peerConsumed) return
    const before = credit(conn.peerWindow, conn.sent, conn.peerConsumed)
    conn.peerConsumed = consumed
    if (before <= 0 && credit(conn.peerWindow, conn.sent, consumed) > 0) handing(() => conn.onWritable())
  }

  private dispatch(h: Header, from: number): void {
    if (h.type === Type.Dial) {
      const listener = this.listeners.get(h.port)
      const conn = listener?.accept(this, h, from) ?? null
      if (!conn) this.refuse(from, h)
      return
    }
    const conn = this.table.get(h.dst)
    const matches = conn && conn.peerService === from && (conn.phase === 'dialing' ? h.type === Type.Accept || h.type === Type.Rst : conn.peerId === h.src)
    if (!conn || !matches) {
      // Not (or no longer) a connection here: the peer's side must go too, as TCP answers a
      // segment for a closed port. Never answer an RST, or two stale ends would echo forever.
      if (h.type !== Type.Rst) this.control(from, { type: Type.Rst, flags: 0, dst: h.src, src: h.dst, consumed: 0, window: 0, port: 0, slot: 0, generation: 0 }, 0)
      return
    }
    switch (h.type) {
      case Type.Accept:
        conn.onAccept(h, from)
        break
      case Type.Fin:
        this.creditFrom(conn, h.consumed)
        conn.onFin()
        break
      case Type.Rst:
        conn.onReset(conn.phase === 'dialing' || (h.flags & Flag.Refused) !== 0)
        break
      case Type.Window:
        this.creditFrom(conn, h.consumed)
        break
    }
  }

  private refuse(to: number, h: Header): void {
    this.control(to, { type: Type.Rst, flags: Flag.Refused, dst: h.src, src: 0, consumed: 0, window: 0, port: h.port, slot: 0, generation: 0 }, 0)
  }

  // --- peers that die ------------------------------------------------------------------------

  private checkPeers(): void {
    const xio = this.xio
    if (!xio) return
    if (!xio.managerAlive()) return this.close(new XioError('MANAGER_GONE', `the manager of prefix '${this.prefix}' stopped`))
    const region = xio.region
    // Many connections share a few peers: each (slot, generation) is looked at once per round.
    const verdicts = new Map<number, boolean>()
    // (A reset takes its connection out of the table as this walks it: Map iteration allows that.)
    for (const conn of this.table.values()) {
      if (conn.phase === 'dialing') {
        if (liveInstances(this.layout, region, conn.peerService) === 0) conn.onReset(true)
        continue
      }
      const peer = conn.peer
      if (!peer) continue
      const key = peer.slot * 0x1_0000_0000 + peer.generation
      let alive = verdicts.get(key)
      if (alive === undefined) verdicts.set(key, (alive = slotAlive(this.layout, region, peer)))
      if (!alive) conn.onReset(false)
    }
  }

  // --- the end -------------------------------------------------------------------------------

  /** Detaches (when nothing uses the stack, or the chain went away: then every socket ends with `error`). */
  private close(error: Error | null): void {
    const xio = this.xio
    if (!xio) return
    if (error) {
      for (const conn of [...this.table.values()]) conn.onReset(false)
      const listeners = [...this.listeners.values()]
      this.listeners.clear()
      for (const l of listeners) l.stackClosed(error)
    }
    try {
      this.flush()
      this.buffers.giveBack()
    } catch {
      // the endpoint is gone already: nothing more can be sent
    }
    this.xio = null
    Stack.stacks.delete(this.prefix)
    Stack.live.delete(this)
    if (this.livenessTimer) clearInterval(this.livenessTimer)
    this.retryTimer?.cancel()
    this.livenessTimer = this.retryTimer = null
    try {
      xio.detach()
    } catch {
      // detached or cut off already
    }
  }
}

// The addon loads with the first socket, not with the import: `import { defineNF } from
// 'xio-chain'` needs no native code.
type Native = typeof import('../xio/xio.ts') & typeof import('../xio/native.ts')
let native: Promise<Native> | null = null
function loadNative(): Promise<Native> {
  native ??= Promise.all([import('../xio/xio.ts'), import('../xio/native.ts')]).then(([x, n]) => ({ ...x, ...n }))
  return native
}

/**
 * Runs what hands a message to the application (its 'data', 'connection', 'end' listeners). One
 * that throws is uncaught, as from a Node socket's event, after the burst: the other messages of
 * the burst still reach their sockets.
 */
function handing(f: () => void): void {
  try {
    f()
  } catch (e) {
    process.nextTick(() => {
      throw e
    })
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** MurmurHash3's finaliser: a connection's flow hash, so all its messages reach one instance of a service. */
function mix(x: number): number {
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}
