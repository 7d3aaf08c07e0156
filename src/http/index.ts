// `import * as http from 'xio-chain/http'`: Node's HTTP over xio sockets. Node's
// own parser, IncomingMessage and ServerResponse run unchanged on xio-chain/net's sockets, so
// an app written for `node:http` (or a framework on it: Express's app is a request listener)
// ports by its import:
//
//   http.createServer(app).listen({ prefix: 'shop', address: 'api', port: 80 })
//   http.get({ prefix: 'shop', host: 'api', port: 80, path: '/items', localAddress: 'web' }, ...)
//
// prefix and the local service default to $XIO_PREFIX and $XIO_SERVICE. The head and body of a
// message written in one tick leave in one pool buffer (or in consecutive ones, for a body
// beyond a buffer), the paper's "header and payload together" (§III-E).
import nodeHttp, { type IncomingMessage, type RequestListener, type ServerOptions as NodeServerOptions } from 'node:http'
import type { Duplex } from 'node:stream'
import * as net from '../net/index.ts'
import type { XioAddress } from '../net/address.ts'

export { IncomingMessage, ServerResponse, OutgoingMessage, ClientRequest, STATUS_CODES, METHODS, validateHeaderName, validateHeaderValue } from 'node:http'

export interface ServerOptions extends NodeServerOptions {
  /** Sockets' receive window in bytes (xio-chain/net's default: 256 KiB). */
  window?: number
}

/** An http.Server whose connections come from a listening xio service instead of a TCP port. */
export class Server extends nodeHttp.Server {
  private readonly listener: net.Server

  constructor(options: ServerOptions = {}, requestListener?: RequestListener) {
    super(options, requestListener)
    this.listener = net.createServer({ window: options.window }, (socket) => this.emit('connection', socket))
    this.listener.on('error', (e) => this.emit('error', e))
  }

  // @ts-expect-error: a service address (XioAddress), where Node's takes a TCP port or path
  override listen(options?: XioAddress | number | (() => void), host?: string | (() => void), callback?: () => void): this {
    if (typeof options === 'function') [options, host] = [{}, options]
    const done = typeof host === 'function' ? host : callback
    this.listener.once('listening', () => {
      this.emit('listening')
      done?.()
    })
    this.listener.listen(options, typeof host === 'string' ? host : undefined)
    return this
  }

  // @ts-expect-error: Node declares it a property; it is a getter on net.Server's prototype
  override get listening(): boolean {
    return this.listener.listening
  }

  // @ts-expect-error: a service address, not an AddressInfo: where this server listens in the chain
  override address(): { prefix: string; address: string; port: number } | null {
    return this.listener.address()
  }

  /** Stops taking connections, ends idle keep-alive ones; 'close' once every connection has ended. */
  override close(callback?: (error?: Error) => void): this {
    if (callback) this.once('close', callback)
    this.listener.once('close', () => this.emit('close'))
    this.listener.close()
    this.closeIdleConnections()
    // What Node's close() does besides: stop the timer that enforces headersTimeout and
    // requestTimeout (started on 'listening'). Its symbol is Node's own; found by name.
    const interval = Object.getOwnPropertySymbols(this).find((k) => k.description === 'http.server.connectionsCheckingInterval')
    if (interval) clearInterval((this as unknown as Record<symbol, NodeJS.Timeout>)[interval])
    return this
  }
}

export function createServer(options?: ServerOptions | RequestListener, requestListener?: RequestListener): Server {
  return typeof options === 'function' ? new Server({}, options) : new Server(options, requestListener)
}

/** What a request names besides Node's own options: the chain, and the service to dial from. */
export interface XioRequestOptions extends nodeHttp.RequestOptions {
  prefix?: string
  /** The service this process dials from (default: its endpoint on the chain, or $XIO_SERVICE). */
  localAddress?: string
}

/** An xio socket to the request's host (a service name) and port (80 unless given). */
function connectTo(options: XioRequestOptions): net.Socket {
  return net.connect({
    prefix: options.prefix,
    address: options.host ?? options.hostname ?? undefined,
    port: options.port === undefined || options.port === null ? 80 : Number(options.port),
    localAddress: options.localAddress,
  })
}

/** An http.Agent whose connections are xio sockets to the request's host (a service name). */
export class Agent extends nodeHttp.Agent {
  override createConnection(options: XioRequestOptions, callback?: (e: Error | null, socket: Duplex) => void): Duplex {
    const socket = connectTo(options)
    if (callback) socket.once('connect', () => callback(null, socket))
    return socket
  }
}

/** The agent requests use unless told: keeps connections alive between requests, as Node's global agent. */
export const globalAgent = new Agent({ keepAlive: true })

type ResponseListener = (res: IncomingMessage) => void

function withAgent(options: XioRequestOptions): XioRequestOptions {
  // Node's ClientRequest takes its default agent from _defaultAgent: xio's, so a request with
  // no agent uses the keep-alive one and agent: false a fresh xio Agent (one connection, closed
  // after). A request with createConnection of its own keeps it.
  if (options.createConnection) return options
  return { ...options, _defaultAgent: globalAgent } as XioRequestOptions
}

export function request(url: string | URL | XioRequestOptions, options?: XioRequestOptions | ResponseListener, callback?: ResponseListener): nodeHttp.ClientRequest {
  if (typeof url === 'string' || url instanceof URL) {
    if (typeof options === 'function') return nodeHttp.request(url, withAgent({}), options)
    return nodeHttp.request(url, withAgent(options ?? {}), callback)
  }
  return nodeHttp.request(withAgent(url), typeof options === 'function' ? options : callback)
}

export function get(url: string | URL | XioRequestOptions, options?: XioRequestOptions | ResponseListener, callback?: ResponseListener): nodeHttp.ClientRequest {
  const req = request(url, options, callback)
  req.end()
  return req
}
