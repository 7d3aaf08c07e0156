// Sockets over the rings between real processes: a server process listening as one service of
// a chain, this test process dialling from another (or the other way round), the manager in
// this process. Echo whatever the sizes and splits, half-close, refusal, a peer killed with
// kill -9, backpressure from a reader that stops, and 10,000 connections at once.
import test from 'ava'
import fc from 'fast-check'
import { once } from 'node:events'
import * as net from '../../src/net/index.ts'
import { removeLeftoverRegions, until } from '../helpers/processes.ts'
import { chainOf, closeOf, echoServer, event, fixture, kill, report } from './helpers.ts'

test.after.always(removeLeftoverRegions)

/** n bytes that differ from any other message's: a shifted or mixed-up byte cannot pass. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

async function echoOnce(prefix: string, chunks: Buffer[]): Promise<Buffer> {
  const s = net.connect({ prefix, address: 'srv', port: 7, localAddress: 'cli', allowHalfOpen: true })
  const got: Buffer[] = []
  s.on('data', (c: Buffer) => got.push(c))
  const ended = event(s, 'end')  // the server's FIN comes after everything it echoed
  const closed = event(s, 'close')
  for (const c of chunks) s.write(c)
  s.end()
  await ended
  await closed
  return Buffer.concat(got)
}

test.serial('echo: every byte comes back once and in order, whatever the message sizes and how writes split them', async (t) => {
  const m = chainOf('echo', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 7)
  try {
    // Sizes around one buffer's payload (2048 - 64 - 128 - 32 = 1824) are where framing breaks.
    const size = fc.oneof(fc.integer({ min: 0, max: 4000 }), fc.constantFrom(1, 1823, 1824, 1825, 3648, 3649, 65536), fc.integer({ min: 0, max: 300_000 }))
    await fc.assert(
      fc.asyncProperty(fc.array(size, { minLength: 1, maxLength: 8 }), fc.integer(), async (sizes, seed) => {
        const chunks = sizes.map((n, i) => pattern(n, seed + i))
        const back = await echoOnce(m.prefix, chunks)
        return back.equals(Buffer.concat(chunks))
      }),
      { numRuns: 40 },
    )
    const r = await report(srv)
    t.is(r.connections, 40)
    t.deepEqual(r.errors, {})
    t.true(await until(() => m.region.buffersInUse() === 0), 'no buffer is left behind')
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('half-close: a client that ended its side still reads what the server writes after', async (t) => {
  const m = chainOf('half', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 9, { mode: 'late' })
  try {
    const s = net.connect({ prefix: m.prefix, address: 'srv', port: 9, localAddress: 'cli', allowHalfOpen: true })
    await event(s, 'connect')
    let text = ''
    s.setEncoding('utf8')
    s.on('data', (c: string) => (text += c))
    const [finished, ended, closed] = ['finish', 'end', 'close'].map((e) => event<boolean>(s, e))
    s.end(pattern(5000, 3))
    await finished
    t.true(s.writableEnded)
    await ended
    t.is(text, 'late:5000')
    t.false(await closed, 'closed without error')
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('refusal: a port nobody listens on, a service with no process and one whose process died say ECONNREFUSED; an unknown service ENOTFOUND', async (t) => {
  const m = chainOf('refuse', ['srv', 'cli', 'idle'])
  const srv = await echoServer(m.prefix, 'srv', 7)
  const dial = async (address: string, port: number) => {
    const s = net.connect({ prefix: m.prefix, address, port, localAddress: 'cli' })
    const [e] = (await once(s, 'error')) as [NodeJS.ErrnoException]
    t.false(s.writable)
    return e.code
  }
  try {
    t.is(await dial('srv', 8), 'ECONNREFUSED')
    t.is(await dial('idle', 7), 'ECONNREFUSED')
    t.is(await dial('nosuch', 7), 'ENOTFOUND')
    await kill(srv)
    t.is(await dial('srv', 7), 'ECONNREFUSED', 'after its process died')
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('a server killed with kill -9 mid-transfer ends the client with ECONNRESET, and the manager takes its buffers back', async (t) => {
  const m = chainOf('reset', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 7)
  try {
    const s = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli' })
    let echoed = 0
    s.on('data', (c: Buffer) => (echoed += c.length))
    const failed = event<NodeJS.ErrnoException>(s, 'error')
    const closed = closeOf(s)
    const chunk = pattern(65536, 1)
    const pump = () => {
      while (!s.destroyed && s.write(chunk));
    }
    s.on('drain', pump)
    s.on('connect', pump)
    t.true(await until(() => echoed > 4 << 20), 'traffic flows both ways')
    srv.child.kill('SIGKILL')
    const e = await failed
    t.is(e.code, 'ECONNRESET')
    t.is(e.syscall, 'read')
    t.true(await closed, "'close' says it had an error")
    t.true(s.destroyed)
    t.true(await until(() => m.region.buffersInUse() === 0), "the dead server's buffers and those in flight to it are back in the pool")
    t.is(m.snapshot().manager.deaths, 1)
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('a client killed with kill -9 ends its connection on the server with ECONNRESET', async (t) => {
  const m = chainOf('reset-client', ['srv', 'cli'])
  const errors: string[] = []
  const server = net.createServer((socket) => {
    socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code!))
    socket.pipe(socket)
  })
  await event(server.listen({ prefix: m.prefix, address: 'srv', port: 7 }), 'listening')
  const client = fixture('client.ts', [m.prefix, 'cli', 'srv', '7', 'hold'])
  try {
    await client.line((l) => l.connected === true)
    t.is(await new Promise<number>((r) => server.getConnections((_, n) => r(n))), 1)
    await kill(client)
    t.true(await until(() => errors.length === 1), 'the server side sees the reset')
    t.deepEqual(errors, ['ECONNRESET'])
    const closed = event(server, 'close')
    server.close()
    await closed
  } finally {
    await kill(client)
    m.close()
  }
})

test.serial('backpressure: a reader that stops holds at most its window, its writer is stopped by write() and resumes on drain', async (t) => {
  const window = 128 * 1024
  const m = chainOf('backpressure', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 7, { mode: 'pause', window })
  try {
    const s = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli', allowHalfOpen: true })
    await event(s, 'connect')
    const total = 32 << 20
    const chunk = pattern(65536, 9)
    let written = 0, refusals = 0, maxQueued = 0, echoed = 0
    s.on('data', (c: Buffer) => (echoed += c.length))
    const ended = event(s, 'end')
    const pump = () => {
      while (written < total) {
        written += chunk.length
        const more = s.write(chunk)
        maxQueued = Math.max(maxQueued, s.writableLength)
        if (!more) return void refusals++
      }
      s.end()
    }
    s.on('drain', pump)
    pump()
    // The reader reads nothing: the writer gets exactly the window through, and no more.
    t.true(await until(() => s.bytesWritten === window), `sent ${s.bytesWritten}`)
    t.is(refusals, 1, 'write() returned false once, and no drain came while the reader stood still')
    t.true(written <= window + 2 * chunk.length, 'the application stopped writing too')
    srv.child.kill('SIGUSR2')
    const held = await srv.line((l) => l.maxBuffered !== undefined)
    t.true((held.maxBuffered as number) <= window, `the paused reader holds ${held.maxBuffered} bytes`)
    t.true(await until(() => m.region.buffersInUse() < 8), 'nothing waits in the pool: the bytes sit in the reader, within its window')
    srv.child.kill('SIGUSR1')  // it reads now: everything flows
    await ended
    t.is(echoed, total)
    t.true(refusals > 1)
    t.true(maxQueued <= s.writableHighWaterMark + chunk.length, `at most ${maxQueued} bytes queued in the writer`)
    const r = await report(srv)
    t.true((r.maxBuffered as number) <= window)
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('10,000 connections at once from one process to one server, each its own stream', async (t) => {
  const m = chainOf('many', ['srv', 'cli'], { buffers: 16384 })
  const srv = await echoServer(m.prefix, 'srv', 7)
  const count = 10_000
  try {
    const sockets = Array.from({ length: count }, () => net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli', allowHalfOpen: true }))
    await Promise.all(sockets.map((s) => event(s, 'connect')))
    srv.child.kill('SIGUSR2')
    const open = await srv.line((l) => l.open !== undefined)
    t.is(open.open, count, 'all are open at the server at once')
    const results = await Promise.all(
      sockets.map((s, i) => {
        const message = `connection ${i} ${'x'.repeat(i % 97)}`
        let back = ''
        s.setEncoding('utf8')
        s.on('data', (c: string) => (back += c))
        const done = event(s, 'close').then(() => back === message)
        s.end(message)
        return done
      }),
    )
    t.is(results.filter(Boolean).length, count, 'each got its own message back, and only it')
    const r = await report(srv)
    t.is(r.connections, count)
    t.is(r.maxConcurrent, count)
    t.deepEqual(r.errors, {})
    t.true(await until(() => m.region.buffersInUse() === 0))
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('a chain that stops ends its open sockets with ECONNRESET and its listeners with MANAGER_GONE', async (t) => {
  const m = chainOf('stop', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 7)
  try {
    const s = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli' })
    await event(s, 'connect')
    const failed = event<NodeJS.ErrnoException>(s, 'error')
    const closed = closeOf(s)
    m.close()
    t.is((await failed).code, 'ECONNRESET')
    t.true(await closed)
    t.is((await srv.line((l) => l.serverError !== undefined)).serverError, 'MANAGER_GONE', "the listening server gets 'error'")
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('a listening service may run as several processes: each connection stays with one of them; a dialling one must be one process', async (t) => {
  const m = chainOf('instances', ['srv', 'cli'])
  const servers = [await echoServer(m.prefix, 'srv', 7), await echoServer(m.prefix, 'srv', 7)]
  try {
    t.is(m.snapshot().services.find((s) => s.name === 'srv')!.instances, 2)
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const message = pattern(5000 + i, i)
        return echoOnce(m.prefix, [message.subarray(0, 2000), message.subarray(2000)]).then((back) => back.equals(message))
      }),
    )
    t.true(results.every(Boolean), 'every connection echoed whole: all its messages reached the instance that accepted it')
    // Two processes as 'cli' (this one and another): this one may not dial.
    const other = fixture('echo-server.ts', [m.prefix, 'cli', '9'])
    try {
      await other.line((l) => l.listening === true)
      const s = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli' })
      t.is((await event<NodeJS.ErrnoException>(s, 'error')).code, 'EADDRINUSE')
    } finally {
      await kill(other)
    }
    const reports = await Promise.all(servers.map(report))
    t.is(reports.reduce((n, r) => n + (r.connections as number), 0), 40)
    t.true(reports.every((r) => (r.connections as number) > 0), `spread: ${reports.map((r) => r.connections).join(' + ')}`)
  } finally {
    await Promise.all(servers.map(kill))
    m.close()
  }
})

test.serial('zero copy: a message written in a lent pool buffer goes as it is, in order with copied writes; one never written goes back', async (t) => {
  const m = chainOf('zerocopy', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 7)
  try {
    const s = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli', allowHalfOpen: true })
    t.throws(() => s.allocBuffer(10), { code: 'ERR_SOCKET_CLOSED' })
    await event(s, 'connect')
    t.is(s.maxBufferSize, 2048 - 64 - 128 - 32)
    t.throws(() => s.allocBuffer(s.maxBufferSize + 1), { instanceOf: RangeError })
    const got: Buffer[] = []
    s.on('data', (c: Buffer) => got.push(c))
    const ended = event(s, 'end')
    const expected: Buffer[] = []
    for (let i = 0; i < 200; i++) {
      const size = 1 + ((i * 37) % s.maxBufferSize)
      const content = pattern(size, i)
      expected.push(content)
      if (i % 3 === 0) {
        s.write(content)  // copied, as any write
        continue
      }
      const lent = s.allocBuffer(size)
      t.not(lent.buffer, content.buffer)
      content.copy(lent)  // the application builds its message in the pool buffer itself
      s.write(lent)
    }
    // Proof that nothing was copied: a byte changed after write() (in the same tick, before the
    // buffer leaves; a program must not do this) is what the peer gets.
    const last = s.allocBuffer(3)
    last.write('abc')
    s.write(last)
    last[2] = 0x21
    expected.push(Buffer.from('ab!'))
    const unsent = s.allocBuffer(100)
    t.is(unsent.length, 100)
    s.end()
    await ended
    t.true(Buffer.concat(got).equals(Buffer.concat(expected)), 'every message, in order')
    await until(() => s.destroyed)
    t.true(await until(() => m.region.buffersInUse() === 0), 'the buffer lent and never written went back when the socket closed')
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('connections are independent: one whose reader stopped does not slow another of the same two processes', async (t) => {
  const m = chainOf('independent', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 7, { mode: 'pause-first' })
  try {
    const stuck = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli' })
    await event(stuck, 'connect')
    const chunk = pattern(65536, 4)
    while (stuck.write(chunk));
    t.true(await until(() => stuck.bytesWritten === 256 * 1024), 'the stuck one sent its window and waits')
    const live = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli' })
    await event(live, 'connect')
    const message = pattern(1024, 5)
    for (let i = 0; i < 1000; i++) {
      const back = new Promise<Buffer>((resolve) => {
        const got: Buffer[] = []
        let n = 0
        const on = (c: Buffer) => {
          got.push(c)
          if ((n += c.length) < message.length) return
          live.off('data', on)
          resolve(Buffer.concat(got))
        }
        live.on('data', on)
      })
      live.write(message)
      if (!(await back).equals(message)) return t.fail(`round trip ${i} came back wrong`)
    }
    t.is(stuck.bytesWritten, 256 * 1024, 'the stuck one is still where it was')
    t.is(stuck.writableNeedDrain, true)
    live.destroy()
    stuck.destroy()
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial('zero-copy reads: a lending socket gets the pool buffers themselves; what it holds unreleased stops its peer at the window', async (t) => {
  const window = 64 * 1024
  const m = chainOf('lending', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 7)
  try {
    const s = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli', lending: true, window, allowHalfOpen: true })
    await event(s, 'connect')
    t.throws(() => s.release(Buffer.alloc(1)), { code: 'ERR_INVALID_ARG_VALUE' }, 'only what it lent goes back')
    const sent = pattern(1 << 20, 77)
    const held: Buffer[] = []
    const copies: Buffer[] = []
    let outstanding = 0, maxOutstanding = 0, received = 0
    const ended = event(s, 'end')
    s.on('data', (chunk: Buffer) => {
      t.is(chunk.buffer.byteLength, m.region.bytes.byteLength, 'the chunk is a view of the region, not a copy')
      received += chunk.length
      outstanding += chunk.length
      maxOutstanding = Math.max(maxOutstanding, outstanding)
      copies.push(Buffer.from(chunk))
      held.push(chunk)
      // Held until a window's worth arrived: the peer can send no more until some goes back.
      if (outstanding < window && received < sent.length) return
      for (const c of held.splice(0)) s.release(c)
      outstanding = 0
    })
    s.end(sent)
    await ended
    t.true(Buffer.concat(copies).equals(sent))
    t.true(maxOutstanding <= window, `held at most ${maxOutstanding} bytes`)
    t.true(await until(() => m.region.buffersInUse() === 0), 'every lent buffer is back')
  } finally {
    await kill(srv)
    m.close()
  }
})

test.serial("an exception thrown by a 'data' listener is uncaught, as from a Node socket, and every socket goes on", async (t) => {
  const m = chainOf('throws', ['srv', 'cli'])
  const srv = await echoServer(m.prefix, 'srv', 7)
  const thrown: unknown[] = []
  const original = process.listeners('uncaughtException')
  process.removeAllListeners('uncaughtException')
  process.on('uncaughtException', (e) => thrown.push(e))
  try {
    const bad = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli' })
    const good = net.connect({ prefix: m.prefix, address: 'srv', port: 7, localAddress: 'cli', allowHalfOpen: true })
    await Promise.all([event(bad, 'connect'), event(good, 'connect')])
    bad.on('data', () => {
      throw new Error('a bug in a handler')
    })
    bad.write('x')
    t.true(await until(() => thrown.length === 1))
    t.is((thrown[0] as Error).message, 'a bug in a handler')
    const back = echoOnce(m.prefix, [Buffer.from('still working')])
    t.is((await back).toString(), 'still working')
    bad.destroy()
    good.destroy()
  } finally {
    process.removeAllListeners('uncaughtException')
    for (const l of original) process.on('uncaughtException', l)
    await kill(srv)
    m.close()
  }
})
