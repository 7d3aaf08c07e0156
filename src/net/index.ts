// `import * as net from 'xio-chain/net'`: Node's `net`
// over the chain's rings. A server listens as a service the chain declares (kind "service");
// a client dials a service by name from a service of its own:
//
//   net.createServer((s) => s.pipe(s)).listen({ prefix: 'shop', address: 'api', port: 80 })
//   const s = net.connect({ prefix: 'shop', address: 'api', port: 80, localAddress: 'web' })
//
// prefix and the local service default to $XIO_PREFIX and $XIO_SERVICE, and `host` means the
// address, so code written for Node's net ports by changing its import. Beyond Node's API,
// zero copy both ways: socket.allocBuffer(n) lends a pool buffer to write in place, and a
// socket made with { lending: true } reads the pool's buffers themselves (release(chunk) each).
//
// A service that listens may run as several processes (each connection stays with the one
// that accepted it); a service that dials must be one process (answers come back to the
// service, and the manager would spread them over its processes).
import { isIP, isIPv4, isIPv6 } from 'node:net'
import { Server, type ServerOptions } from './server.ts'
import { Socket, type ConnectOptions } from './socket.ts'

export { Server, type ServerOptions, type ListenOptions } from './server.ts'
export { Socket, type ConnectOptions, type SocketOptions } from './socket.ts'
export type { NetError, NetErrorCode } from './errors.ts'
export type { StackOptions } from './stack.ts'
export { isIP, isIPv4, isIPv6 }

export function createServer(options?: ServerOptions | ((socket: Socket) => void), connectionListener?: (socket: Socket) => void): Server {
  return typeof options === 'function' ? new Server({}, options) : new Server(options, connectionListener)
}

export function connect(options: ConnectOptions | number, host?: string | (() => void), listener?: () => void): Socket {
  const socket = new Socket(typeof options === 'object' ? options : {})
  return socket.connect(options, host, listener)
}

export const createConnection = connect
