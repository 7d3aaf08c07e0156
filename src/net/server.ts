// A listening service, as net.Server: listen(), 'listening', 'connection', close() ('close' once
// every connection has ended), address(), getConnections(), maxConnections. A dial to a port
// nothing listens on is refused (the dialer gets ECONNREFUSED).
import { EventEmitter } from 'node:events'
import { resolveAddress, type XioAddress } from './address.ts'
import { Socket, type SocketOptions } from './socket.ts'
import { Stack, type Connection, type Listener, type StackOptions } from './stack.ts'
import type { Header } from './wire.ts'

export interface ServerOptions extends SocketOptions {
  /** Options for the process's stack, if this listen attaches it (the first use on the prefix). */
  stack?: StackOptions
}

export type ListenOptions = XioAddress

export class Server extends EventEmitter implements Listener {
  /** Refuse dials beyond this many connections (Node's maxConnections). */
  maxConnections?: number
  private stack: Stack | null = null
  private bound: { prefix: string; address: string; port: number } | null = null
  private readonly sockets = new Set<Socket>()
  private closing = false

  constructor(private readonly options: ServerOptions = {}, connectionListener?: (socket: Socket) => void) {
    super()
    if (connectionListener) this.on('connection', connectionListener)
  }

  get listening(): boolean {
    return this.stack !== null
  }

  listen(options?: ListenOptions | number | (() => void), host?: string | (() => void), callback?: () => void): this {
    if (typeof options === 'function') [options, host] = [{}, options]
    if (typeof options === 'number') options = { port: options, ...(typeof host === 'string' ? { host } : {}) }
    options ??= {}
    const done = typeof host === 'function' ? host : callback
    if (done) this.once('listening', done)
    let where: ReturnType<typeof resolveAddress>
    try {
      where = resolveAddress(options, 'listen', process.env.XIO_SERVICE)
    } catch (e) {
      process.nextTick(() => this.emit('error', e))
      return this
    }
    this.closing = false
    Stack.get(where.prefix, where.address, this.options.stack).then(
      (stack) => {
        try {
          stack.listen(where.port, this)
        } catch (e) {
          return this.emit('error', e)
        }
        stack.ref()
        this.stack = stack
        this.bound = where
        this.emit('listening')
      },
      (e: Error) => this.emit('error', e),
    )
    return this
  }

  /** A dial for this listener's port: a connected socket, announced by 'connection'. */
  accept(stack: Stack, h: Header, from: number): Connection | null {
    if (this.closing || (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections)) return null
    const socket = new Socket(this.options)
    socket.accepted(stack, h, from, this.bound!.address)
    this.sockets.add(socket)
    socket.once('close', () => {
      this.sockets.delete(socket)
      this.maybeClosed()
    })
    this.emit('connection', socket)
    return socket
  }

  /** The chain went away (or cut this process off): 'error' with why, then 'close'. */
  stackClosed(error: Error): void {
    this.stack = null
    this.closing = true
    this.emit('error', error)
    process.nextTick(() => this.emit('close'))
  }

  address(): { prefix: string; address: string; port: number } | null {
    return this.bound
  }

  getConnections(callback: (error: Error | null, count: number) => void): this {
    process.nextTick(callback, null, this.sockets.size)
    return this
  }

  /** Stops taking connections; 'close' (and callback) once the last one has ended. */
  close(callback?: (error?: Error) => void): this {
    if (!this.stack) {
      const e = Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' })
      if (callback) process.nextTick(callback, e)
      return this
    }
    if (callback) this.once('close', callback)
    this.closing = true
    this.stack.unlisten(this.bound!.port, this)
    this.maybeClosed()
    return this
  }

  private maybeClosed(): void {
    if (!this.closing || this.sockets.size || !this.stack) return
    const stack = this.stack
    this.stack = null
    stack.unref()
    process.nextTick(() => this.emit('close'))
  }

  ref(): this {
    return this
  }

  unref(): this {
    return this
  }
}
