// Sockets over the rings against Node's own `net` (the X-IO paper's Figs. 8 and 10): the same
// request/response client and echo server, written once against Node's net API, run over
// xio-chain/net, over a Unix-domain socket and over TCP loopback in the same run. Each of 1, 16
// and 64 connections sends a message of 64 B to 64 KiB and waits for all of it to come back
// before sending the next (one request in flight per connection). Reported: the round trip's
// median and p99 over every request of every connection, and round trips per second in all.
//
// The manager thread runs in this process, pinned to CPU 0 as `xio-chain run` places it; the
// server and client are processes of their own, unpinned, for all three transports alike.
//
// Then HTTP (the paper's Fig. 9): a small REST service (GET /ping, 64 B of JSON back) over
// xio-chain/http against Node's http over TCP loopback, 1 to 64 keep-alive connections, each
// with one request in flight: requests per second and latency (median, p99).
//
// This file is also the servers and the clients (run as a script with arguments):
//   sockets.ts server <transport> <where>
//   sockets.ts client <transport> <where> <size> <connections> <warmupMs> <measureMs>
//   sockets.ts short-client <transport> <where> <warmupMs> <measureMs>
//   sockets.ts http-server <transport> <where>
//   sockets.ts http-client <transport> <where> <connections> <warmupMs> <measureMs>
import { readFileSync, rmSync } from 'node:fs'
import nodeNet from 'node:net'
import { fileURLToPath } from 'node:url'
import nodeHttp from 'node:http'
import * as xioNet from '../src/net/index.ts'
import * as xioHttp from '../src/http/index.ts'
import { Manager } from '../src/xio/index.ts'
import { percentiles, type Percentiles } from './stats.ts'
import { start, until } from './dataplane.ts'
import type { Report } from './report.ts'

type Transport = 'xio' | 'uds' | 'tcp'
/** xio with the pool's buffers at their largest (64 KiB): a 64 KiB message in two buffers, not 36. */
const BIG_BUFFERS = 65536
const MANAGER_CPU = 0
const SIZES = [64, 1024, 16384, 65536]
const CONNECTIONS = [1, 16, 64]
const HTTP_CONNECTIONS = [1, 4, 16, 64]
const WARMUP_MS = 300
const MEASURE_MS = 1500
const self = fileURLToPath(import.meta.url)

/** Where a transport's server is: the chain's prefix for xio, a socket path, or a TCP port. */
function connectOptions(transport: Transport, where: string): object {
  if (transport === 'xio') return { prefix: where, address: 'srv', port: 7, localAddress: 'cli' }
  return transport === 'uds' ? { path: where } : { port: Number(where), host: '127.0.0.1' }
}

// The same code for every transport: only the module differs, as a port by import would.
const netOf = (transport: Transport) => (transport === 'xio' ? xioNet : nodeNet) as unknown as typeof nodeNet

function serve(transport: Transport, where: string): void {
  const server = netOf(transport).createServer((socket) => {
    socket.setNoDelay(true)
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('error', () => {})
  })
  const at = transport === 'xio' ? { prefix: where, address: 'srv', port: 7 } : transport === 'uds' ? { path: where } : { port: Number(where), host: '127.0.0.1' }
  server.listen(at as nodeNet.ListenOptions, () => process.stdout.write('listening\n'))
  process.on('SIGTERM', () => process.exit(0))
}

async function client(transport: Transport, where: string, size: number, connections: number, warmupMs: number, measureMs: number): Promise<void> {
  const net = netOf(transport)
  const message = Buffer.alloc(size, 0x5a)
  const samples: number[] = []
  const start = performance.now()
  const measureFrom = start + warmupMs
  const end = measureFrom + measureMs
  let roundTrips = 0
  await Promise.all(
    Array.from({ length: connections }, () => {
      const socket = net.connect(connectOptions(transport, where) as nodeNet.NetConnectOpts)
      socket.setNoDelay(true)
      let got = 0, t0 = 0
      const send = () => {
        got = 0
        t0 = performance.now()
        socket.write(message)
      }
      return new Promise<void>((resolve, reject) => {
        socket.on('error', reject)
        socket.on('connect', send)
        socket.on('data', (chunk: Buffer) => {
          got += chunk.length
          if (got < size) return
          const now = performance.now()
          if (t0 >= measureFrom && now <= end) {
            samples.push((now - t0) * 1000)
            roundTrips++
          }
          if (now < end) return send()
          socket.end()
          socket.on('close', () => resolve())
        })
      })
    }),
  )
  const p = percentiles(Float64Array.from(samples))
  process.stdout.write(JSON.stringify({ ...p, perSecond: roundTrips / (measureMs / 1000) }) + '\n')
}

// HTTP: Node's http and xio-chain's, the same service and client code for both.
const httpOf = (transport: Transport) => (transport === 'xio' ? xioHttp : nodeHttp) as unknown as typeof nodeHttp
const PING = JSON.stringify({ ok: true, service: 'srv', note: 'a small REST answer, 64 B' }).padEnd(64)

function serveHttp(transport: Transport, where: string): void {
  const server = httpOf(transport).createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(PING) }).end(PING)
  })
  const at = transport === 'xio' ? { prefix: where, address: 'srv', port: 80 } : { port: Number(where), host: '127.0.0.1' }
  server.listen(at as nodeNet.ListenOptions, () => process.stdout.write('listening\n'))
  process.on('SIGTERM', () => process.exit(0))
}

async function httpClient(transport: Transport, where: string, connections: number, warmupMs: number, measureMs: number): Promise<void> {
  const http = httpOf(transport)
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  const target = transport === 'xio' ? { prefix: where, host: 'srv', port: 80, localAddress: 'cli' } : { host: '127.0.0.1', port: Number(where) }
  const samples: number[] = []
  const measureFrom = performance.now() + warmupMs
  const end = measureFrom + measureMs
  const get = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ ...target, agent, path: '/ping' } as nodeHttp.RequestOptions, (res) => {
        let n = 0
        res.on('data', (c: Buffer) => (n += c.length))
        res.on('end', () => (n === 64 ? resolve() : reject(new Error(`answer of ${n} bytes`))))
      })
      req.on('error', reject)
      req.end()
    })
  await Promise.all(
    Array.from({ length: connections }, async () => {
      for (let now = performance.now(); now < end; now = performance.now()) {
        await get()
        const done = performance.now()
        if (now >= measureFrom && done <= end) samples.push((done - now) * 1000)
      }
    }),
  )
  agent.destroy()
  const p = percentiles(Float64Array.from(samples))
  process.stdout.write(JSON.stringify({ ...p, perSecond: samples.length / (measureMs / 1000) }) + '\n')
}

// Short connections (the paper's Fig. 8, right): connect, one 64 B request/response, close,
// and again; the time of the whole, per connection.
async function shortClient(transport: Transport, where: string, warmupMs: number, measureMs: number): Promise<void> {
  const net = netOf(transport)
  const message = Buffer.alloc(64, 0x5a)
  const samples: number[] = []
  const measureFrom = performance.now() + warmupMs
  const end = measureFrom + measureMs
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const socket = net.connect(connectOptions(transport, where) as nodeNet.NetConnectOpts)
      let got = 0
      socket.on('error', reject)
      socket.on('connect', () => socket.write(message))
      socket.on('data', (c: Buffer) => {
        if ((got += c.length) === message.length) socket.end()
      })
      socket.on('close', () => resolve())
    })
  for (let t0 = performance.now(); t0 < end; t0 = performance.now()) {
    await once()
    const t1 = performance.now()
    if (t0 >= measureFrom && t1 <= end) samples.push((t1 - t0) * 1000)
  }
  const p = percentiles(Float64Array.from(samples))
  process.stdout.write(JSON.stringify({ ...p, perSecond: samples.length / (measureMs / 1000) }) + '\n')
}

// --- the benchmark, run by bench/main.ts ----------------------------------------------------

type Result = Percentiles & { perSecond: number }

/** One transport at one size and connection count: a fresh server and client (HTTP's when size is 'http'). */
async function measure(transport: Transport, size: number | 'http' | 'short', connections: number, bufferSize?: number): Promise<Result> {
  let where: string
  let manager: Manager | null = null
  if (transport === 'xio') {
    where = `bench-sockets-${process.pid}`
    rmSync(`/dev/shm/xio.${where}`, { force: true })
    manager = Manager.create({ prefix: where, ...(bufferSize ? { buffers: 2048, bufferSize } : { buffers: 16384 }) })
    manager.declare('srv')
    manager.declare('cli')
    manager.start({ cpu: MANAGER_CPU })
  } else if (transport === 'uds') {
    where = `/tmp/xio-bench-sockets-${process.pid}.sock`
    rmSync(where, { force: true })
  } else where = String(21000 + (process.pid % 20000))
  const http = size === 'http'
  const server = start(self, [http ? 'http-server' : 'server', transport, where])
  try {
    await until(() => server.lines.includes('listening'), 20_000)
    const load = [String(connections), String(WARMUP_MS), String(MEASURE_MS)]
    const c = start(
      self,
      http ? ['http-client', transport, where, ...load] : size === 'short' ? ['short-client', transport, where, ...load.slice(1)] : ['client', transport, where, String(size), ...load],
    )
    await c.exited
    if (c.process.exitCode !== 0) throw new Error(`sockets benchmark client (${transport}) exited with ${c.process.exitCode}`)
    return JSON.parse(c.lines[c.lines.length - 1]) as Result
  } finally {
    server.process.kill('SIGTERM')
    await server.exited
    manager?.close()
    if (transport === 'uds') rmSync(where, { force: true })
  }
}

export async function run(report: Report): Promise<void> {
  report.section('Sockets: request/response over xio-chain/net vs Node net (UDS, TCP loopback)')
  report.add('load average (1 min) at start, 2 vCPUs shared', Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]), '')
  for (const connections of CONNECTIONS) {
    for (const size of SIZES) {
      const xio = await measure('xio', size, connections)
      const uds = await measure('uds', size, connections)
      const tcp = await measure('tcp', size, connections)
      const label = `${size} B × ${connections} conn`
      report.compare(`socket round trip ${label}, median`, xio.median, 'µs', 'Node net UDS', uds.median, 'lower')
      report.compare(`socket round trip ${label}, median`, xio.median, 'µs', 'Node net TCP', tcp.median, 'lower')
      report.compare(`socket round trip ${label}, p99`, xio.p99, 'µs', 'Node net UDS', uds.p99, 'lower')
      report.compare(`socket round trips/s ${label}`, xio.perSecond, '/s', 'Node net UDS', uds.perSecond, 'higher')
      report.compare(`socket round trips/s ${label}`, xio.perSecond, '/s', 'Node net TCP', tcp.perSecond, 'higher')
      if (size >= 16384) {
        const big = await measure('xio', size, connections, BIG_BUFFERS)
        report.compare(`socket round trip ${label}, 64 KiB pool buffers, median`, big.median, 'µs', 'Node net UDS', uds.median, 'lower')
        report.compare(`socket round trips/s ${label}, 64 KiB pool buffers`, big.perSecond, '/s', 'Node net UDS', uds.perSecond, 'higher')
      }
    }
  }
  {
    const [xio, uds, tcp] = [await measure('xio', 'short', 1), await measure('uds', 'short', 1), await measure('tcp', 'short', 1)]
    report.compare('short connection: connect, 64 B round trip, close, median', xio.median, 'µs', 'Node net UDS', uds.median, 'lower')
    report.compare('short connection: connect, 64 B round trip, close, median', xio.median, 'µs', 'Node net TCP', tcp.median, 'lower')
  }
  report.section('HTTP: GET of a small REST answer over xio-chain/http vs Node http over TCP loopback, keep-alive')
  for (const connections of HTTP_CONNECTIONS) {
    const xio = await measure('xio', 'http', connections)
    const tcp = await measure('tcp', 'http', connections)
    report.compare(`http requests/s, ${connections} conn`, xio.perSecond, '/s', 'Node http TCP', tcp.perSecond, 'higher')
    report.compare(`http request latency, ${connections} conn, median`, xio.median, 'µs', 'Node http TCP', tcp.median, 'lower')
    report.compare(`http request latency, ${connections} conn, p99`, xio.p99, 'µs', 'Node http TCP', tcp.p99, 'lower')
  }
  report.add('load average (1 min) at end', Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]), '')
}

const [mode, ...args] = process.argv[1] === self ? process.argv.slice(2) : []
if (mode === 'server') serve(args[0] as Transport, args[1])
else if (mode === 'http-server') serveHttp(args[0] as Transport, args[1])
else if (mode === 'http-client') await httpClient(args[0] as Transport, args[1], Number(args[2]), Number(args[3]), Number(args[4]))
else if (mode === 'short-client') await shortClient(args[0] as Transport, args[1], Number(args[2]), Number(args[3]))
else if (mode === 'client') await client(args[0] as Transport, args[1], Number(args[2]), Number(args[3]), Number(args[4]), Number(args[5]))
