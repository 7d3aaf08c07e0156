// The peer of the round-trip benchmark: the same ping-pong over Node's own `net`, through a
// Unix-domain socket or TCP loopback, as the X-IO paper compares with kernel sockets (Fig. 7).
//   server <path|port> [cpu]                 echoes every byte back
//   client <path|port> <size> <rounds> [cpu]  prints RTT percentiles (µs)
import net from 'node:net'
import { setAffinity } from '../../src/xio/index.ts'
import { percentiles } from '../stats.ts'

const [mode, where, ...rest] = process.argv.slice(2)
const address = /^\d+$/.test(where) ? { port: Number(where), host: '127.0.0.1' } : { path: where }

if (mode === 'server') {
  if (rest[0] !== undefined) setAffinity([Number(rest[0])])
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('error', () => {})
  })
  server.listen(address, () => process.stdout.write('listening\n'))
  process.on('SIGTERM', () => server.close(() => process.exit(0)))
} else {
  const [size, rounds] = rest.slice(0, 2).map(Number)
  if (rest[2] !== undefined) setAffinity([Number(rest[2])])
  const warmup = Math.min(1000, rounds / 10)
  const message = Buffer.alloc(size, 0x5a)
  const rtt = new Float64Array(rounds)
  const socket = net.connect(address)
  socket.setNoDelay(true)
  let round = 0, got = 0, t0 = 0n
  const send = () => {
    got = 0
    t0 = process.hrtime.bigint()
    socket.write(message)
  }
  socket.on('connect', send)
  socket.on('data', (chunk) => {
    got += chunk.length
    if (got < size) return
    if (round >= warmup) rtt[round - warmup] = Number(process.hrtime.bigint() - t0) / 1000
    if (++round < rounds + warmup) return send()
    process.stdout.write(JSON.stringify(percentiles(rtt)) + '\n')
    socket.end()
  })
}
