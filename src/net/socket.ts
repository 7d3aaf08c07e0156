// A connection over the rings as a net.Socket-compatible Duplex: write / end / destroy,
// 'connect', 'ready', 'data', 'end', 'close' (hadError), 'error', 'timeout', backpressure through
// write()'s return value and 'drain', half-close (allowHalfOpen), setTimeout, and no-op
// setNoDelay / setKeepAlive / ref / unref (see below).
//
// Flow control is end to end: the peer may have at most this socket's window of bytes sent and
// not yet consumed (read by the application or drained from the stream's buffer), so a reader
// that stops reading stops its writer, whose write() then returns false: no memory grows
// without bound on either side.
//
// Beyond Node's API: allocBuffer(n) lends a pool buffer to write a message in place; written
// with write(), it goes without a copy (the paper's "ongoing work", §III-D).
import { Duplex } from 'node:stream'
import { netError, type NetError } from './errors.ts'
import { localService, resolveAddress, type XioAddress } from './address.ts'
import { DEFAULT_WINDOW, Stack, type Connection } from './stack.ts'
import type { Header } from './wire.ts'
import type { SlotIdentity } from './liveness.ts'

export interface SocketOptions {
  allowHalfOpen?: boolean
  /** Receive window in bytes (default: the stack's, 256 KiB). */
  window?: number
  /**
   * Zero-copy reads: each 'data' chunk is a pool buffer's own memory, lent, not a copy. The
   * reader gives each back with socket.release(chunk) once done with it (not before: the
   * buffer is then reused), and the peer may have at most the window outstanding, so a reader
   * that keeps chunks stops its peer rather than drain the pool. Not for pipe(), which never
   * releases, nor with setEncoding() or read() (which may join chunks): 'data' events only.
   */
  lending?: boolean
}

export interface ConnectOptions extends XioAddress, SocketOptions {
  /** The service this process attaches as to dial (default: its endpoint on the chain, or $XIO_SERVICE). */
  localAddress?: string
  /** Idle timeout in ms, as socket.setTimeout. */
  timeout?: number
}

type Callback = (error?: Error | null) => void

export class Socket extends Duplex implements Connection {
  // The connection, as the stack keeps it (see Connection).
  id = 0
  peerService = -1
  peerId = 0
  peer: SlotIdentity | null = null
  port = 0
  phase: 'dialing' | 'open' | 'closed' = 'dialing'
  flow = 0
  peerWindow = 0
  sent = 0
  peerConsumed = 0
  window = 0
  advertised = 0
  txDesc = -1
  txFill = 0

  /** Node's names for where the socket is. remotePort is the port dialled; localPort this end's connection id. */
  remoteAddress?: string
  remotePort?: number
  remoteFamily = 'xio'
  localAddress?: string
  localPort?: number
  connecting = false
  /** Milliseconds of inactivity before 'timeout', as set by setTimeout (undefined: none). */
  timeout?: number

  private stack: Stack | null = null
  private received = 0
  private finSent = false
  private finReceived = false
  private resetByPeer = false
  private pendingWrite: { chunk: Buffer; at: number; cb: Callback; lent: number } | null = null
  /** Pool buffers allocBuffer lent and not yet written. */
  private readonly lent = new Set<number>()
  private pendingFinal: Callback | null = null
  private idleTimer: NodeJS.Timeout | null = null
  private lastActive = 0
  private readonly windowOption?: number
  readonly lending: boolean
  /** Lent chunks not yet released: their descriptors by the chunk's place in the region, and bytes. */
  private readonly lentIn = new Map<number, number>()
  private lentBytes = 0

  constructor(options: SocketOptions = {}) {
    // The stream may hold a whole window: _read (which grants credit) then runs after every read.
    super({ allowHalfOpen: options.allowHalfOpen ?? false, emitClose: false, decodeStrings: true, readableHighWaterMark: options.window ?? DEFAULT_WINDOW })
    this.windowOption = options.window
    this.lending = options.lending ?? false
  }

  // --- Node's accessors ----------------------------------------------------------------------

  get bytesRead(): number {
    return this.received
  }

  get bytesWritten(): number {
    return this.sent
  }

  get pending(): boolean {
    return this.phase !== 'open'
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening'
    if (this.readable && this.writable) return 'open'
    if (this.readable) return 'readOnly'
    if (this.writable) return 'writeOnly'
    return 'closed'
  }

  /** Bytes written and not yet taken by the stack (Node's deprecated bufferSize). */
  get bufferSize(): number {
    return this.writableLength
  }

  address(): { address: string; port: number; family: string } | Record<string, never> {
    return this.localAddress === undefined ? {} : { address: this.localAddress, port: this.localPort ?? 0, family: 'xio' }
  }

  // Writes of one tick are coalesced into one buffer and sent at the end of that tick, never
  // delayed past it: there is no Nagle delay to switch off. Keep-alive probes have no meaning
  // here (a peer's death is seen from the region). The endpoint keeps the process alive while
  // any socket or listener uses it; ref/unref change nothing.
  setNoDelay(_noDelay?: boolean): this {
    return this
  }

  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this
  }

  ref(): this {
    return this
  }

  unref(): this {
    return this
  }

  setTimeout(ms: number, callback?: () => void): this {
    if (callback) (ms === 0 ? this.removeListener('timeout', callback) : this.once('timeout', callback))
    this.timeout = ms > 0 ? ms : undefined
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = null
    if (this.timeout) this.armIdle(this.timeout)
    return this
  }

  private armIdle(ms: number): void {
    this.lastActive = performance.now()
    this.idleTimer = setTimeout(() => this.idleCheck(), ms)
    this.idleTimer.unref()
  }

  private idleCheck(): void {
    this.idleTimer = null
    if (!this.timeout || this.destroyed) return
    const idle = performance.now() - this.lastActive
    if (idle >= this.timeout - 1) {
      this.emit('timeout')
      this.armIdle(this.timeout)
    } else {
      this.idleTimer = setTimeout(() => this.idleCheck(), this.timeout - idle)
      this.idleTimer.unref()
    }
  }

  private active(): void {
    if (this.timeout) this.lastActive = performance.now()
  }

  /**
   * Zero copy (beyond the paper's copying sockets): a Buffer of `size` bytes that is a pool
   * buffer's own memory. Fill it and write() it: it is sent as it is, in order with the
   * socket's other writes, with no copy; any other write is copied as usual. size is at most
   * one buffer's payload (maxBufferSize). Until written, it is the socket's: closing the socket
   * gives it back. Throws ENOBUFS if the pool is dry, and before 'connect'.
   */
  allocBuffer(size: number): Buffer {
    const stack = this.stack
    if (!stack || this.phase !== 'open') throw Object.assign(new Error('allocBuffer: the socket is not connected'), { code: 'ERR_SOCKET_CLOSED' })
    if (!Number.isInteger(size) || size < 0 || size > stack.payloadRoom) throw new RangeError(`allocBuffer: size must be an integer from 0 to ${stack.payloadRoom} (one pool buffer), got ${size}`)
    const lent = stack.lend(size)
    if (!lent) throw Object.assign(new Error('allocBuffer: the pool has no free buffer now'), { code: 'ENOBUFS' })
    this.lent.add(lent.desc)
    return lent.view
  }

  /** The most allocBuffer gives: one pool buffer's payload (0 before 'connect'). */
  get maxBufferSize(): number {
    return this.stack?.payloadRoom ?? 0
  }

  /** Ends the connection at once with RST: the peer's socket errors with ECONNRESET. */
  resetAndDestroy(): this {
    if (this.stack && this.phase === 'open') this.stack.reset(this)
    this.finSent = true
    return this.destroy()
  }

  destroySoon(): void {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', () => this.destroy())
  }

  // --- dialling --------------------------------------------------------------------------------

  connect(options: ConnectOptions | number, host?: string | (() => void), listener?: () => void): this {
    if (typeof options === 'number') options = { port: options, ...(typeof host === 'string' ? { host } : {}) }
    const callback = typeof host === 'function' ? host : listener
    if (callback) this.once('connect', callback)
    if (options.timeout) this.setTimeout(options.timeout)
    this.connecting = true
    let where: ReturnType<typeof resolveAddress>
    try {
      where = resolveAddress(options, 'connect')
    } catch (e) {
      process.nextTick(() => this.destroy(e as Error))
      return this
    }
    this.remoteAddress = where.address
    this.remotePort = where.port
    this.port = where.port
    const existing = Stack.current(where.prefix)
    const name = localService(options, existing !== undefined)
    const stack = name ? Stack.get(where.prefix, name) : existing
    if (!stack) {
      process.nextTick(() => this.destroy(new TypeError(`connect: this process has no service on prefix '${where.prefix}' to dial from: give { localAddress } (a service the chain declares) or set XIO_SERVICE`)))
      return this
    }
    stack.then(
      (s) => this.dial(s, where.address, where.port),
      (e: Error) => this.destroy(e),
    )
    return this
  }

  private dial(stack: Stack, address: string, port: number): void {
    if (this.destroyed) return
    this.useStack(stack)
    const service = stack.serviceId(address)
    if (service < 0) return void this.destroy(netError('ENOTFOUND', 'connect', address, port, `prefix '${stack.prefix}' declares no service '${address}'`))
    this.peerService = service
    if (!stack.serviceLive(service)) return void this.destroy(netError('ECONNREFUSED', 'connect', address, port))
    // Answers come back to the service, and the manager spreads a service's traffic over its
    // instances: with two processes attached as this one, answers could reach the other.
    if (stack.instancesOf(stack.service) > 1)
      return void this.destroy(netError('EADDRINUSE', 'connect', address, port, `${stack.instancesOf(stack.service)} processes are attached as service '${stack.name}'; a service that dials must be one process`))
    stack.register(this)
    this.localPort = this.id
    stack.dial(this)
  }

  /** A dial this stack's listener took: the socket is connected from the start. */
  accepted(stack: Stack, h: Header, from: number, name: string): void {
    this.useStack(stack)
    this.peerService = from
    this.peerId = h.src
    this.peerWindow = h.window
    this.peer = { slot: h.slot, generation: h.generation, service: from }
    this.port = h.port
    this.remoteAddress = stack.serviceName(from)
    this.remotePort = h.port
    this.localAddress = name
    stack.register(this)
    this.localPort = this.id
    this.phase = 'open'
    stack.acceptReply(this)
  }

  private useStack(stack: Stack): void {
    this.stack = stack
    stack.ref()
    this.window = this.windowOption ?? stack.window
    this.localAddress = stack.name
  }

  // --- what the stack tells it -------------------------------------------------------------------

  consumed(): number {
    // Lent bytes count as consumed once released (in the stream's buffer or the reader's hands till then).
    return (this.received - (this.lending ? this.lentBytes : this.readableLength)) >>> 0
  }

  onLent(d: number, view: Buffer): void {
    this.lentIn.set(view.byteOffset, d)
    this.lentBytes += view.length
    this.received += view.length
    this.active()
    this.push(view)
  }

  /** Gives a chunk a lending socket lent back to the pool (see SocketOptions.lending); the chunk must not be used after. */
  release(chunk: Buffer): void {
    if (!this.stack) return  // closed: everything it lent went back then
    const d = this.lentIn.get(chunk.byteOffset)
    if (d === undefined) throw Object.assign(new Error('release: not a chunk this socket lent, or released already'), { code: 'ERR_INVALID_ARG_VALUE' })
    this.lentIn.delete(chunk.byteOffset)
    this.lentBytes -= chunk.length
    this.stack.release(d)
    this.stack.consumedChanged(this)
  }

  onAccept(h: Header, from: number): void {
    if (this.phase !== 'dialing') return
    this.peerId = h.src
    this.peerWindow = h.window
    this.peer = { slot: h.slot, generation: h.generation, service: from }
    this.phase = 'open'
    this.connecting = false
    this.active()
    this.emit('connect')
    this.emit('ready')
    this.trySend()
    if (this.pendingFinal) {
      const cb = this.pendingFinal
      this.pendingFinal = null
      this._final(cb)
    }
  }

  onData(chunk: Buffer): void {
    this.received += chunk.length
    this.active()
    this.push(chunk)
    this.stack!.consumedChanged(this)
  }

  onFin(): void {
    if (this.finReceived) return
    this.finReceived = true
    this.push(null)
    this.settle()
  }

  onReset(refused: boolean): void {
    if (this.destroyed) return
    this.finSent = true  // nothing more goes to a peer that reset (or died)
    this.resetByPeer = true
    const code = refused ? 'ECONNREFUSED' : 'ECONNRESET'
    this.destroy(netError(code, refused ? 'connect' : 'read', this.remoteAddress, this.remotePort))
  }

  onWritable(): void {
    this.trySend()
  }

  // --- the Duplex --------------------------------------------------------------------------------

  override _read(): void {
    if (this.phase === 'open') this.stack!.consumedChanged(this)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: Callback): void {
    if (this.phase === 'closed') return cb(netError('EPIPE', 'write', this.remoteAddress, this.remotePort))
    const d = this.lent.size ? this.stack!.descOf(chunk) : -1
    this.pendingWrite = { chunk, at: 0, cb, lent: this.lent.has(d) ? d : -1 }
    if (this.phase === 'open') this.trySend()
  }

  private trySend(): void {
    const w = this.pendingWrite
    if (!w || this.phase !== 'open') return
    if (w.lent >= 0) {
      if (!this.stack!.sendLent(this, w.lent, w.chunk.length)) return  // onWritable when credit comes
      this.lent.delete(w.lent)
      w.at = w.chunk.length
    } else w.at += this.stack!.send(this, w.chunk, w.at)
    if (w.at < w.chunk.length) return  // the stack calls onWritable when credit or buffers come
    this.pendingWrite = null
    this.active()
    w.cb()
  }

  override _final(cb: Callback): void {
    if (this.phase === 'dialing') {
      this.pendingFinal = cb
      return
    }
    if (this.phase === 'open' && !this.finSent) {
      this.stack!.fin(this)
      this.finSent = true
    }
    cb()
    this.settle()
  }

  /** Both ways closed: the connection leaves the table (the stream ends itself). */
  private settle(): void {
    if (this.finSent && this.finReceived && this.stack && this.phase !== 'closed') this.stack.unregister(this)
  }

  override _destroy(error: Error | null, cb: Callback): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = null
    this.connecting = false
    const stack = this.stack
    this.stack = null
    if (stack) {
      // Closing without end() says FIN, as closing a TCP socket does; what the peer sends
      // after that is answered with RST (the connection has left the table).
      if (this.phase === 'open' && !this.finSent) stack.fin(this)
      this.finSent = true
      if (this.phase !== 'closed') stack.unregister(this, this.resetByPeer)
      for (const d of this.lent) stack.release(d)
      this.lent.clear()
      for (const d of this.lentIn.values()) stack.release(d)
      this.lentIn.clear()
      stack.unref()
    }
    this.phase = 'closed'
    const w = this.pendingWrite
    this.pendingWrite = null
    cb(error)
    if (w) process.nextTick(() => w.cb(error ?? netError('EPIPE', 'write', this.remoteAddress, this.remotePort)))
    process.nextTick(() => this.emit('close', error !== null && error !== undefined))
  }
}

export type { NetError }
