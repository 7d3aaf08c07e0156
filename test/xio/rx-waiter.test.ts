// RxWaiter: one pool thread sleeping on several endpoints' RX rings at once (futex_waitv),
// woken by the manager thread's delivery to any of them.
import test from 'ava'
import { attach, Manager, RxWaiter } from '../../src/xio/index.ts'
import { removeLeftoverRegions, uniquePrefix } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)

// a sends out of gate 0 to b and out of gate 1 to c; the manager runs as a thread of this process.
async function chain(tag: string) {
  const m = Manager.create({ prefix: uniquePrefix(tag), buffers: 4096 })
  for (const name of ['a', 'b', 'c']) m.declare(name)
  m.route('a', 0, 'b')
  m.route('a', 1, 'c')
  m.start()
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => attach({ prefix: m.prefix, name })))
  const close = () => {
    for (const x of [a, b, c]) x.detach()
    m.close()
  }
  return { m, a, b, c, close }
}

test.serial('a wait on several endpoints ends when a packet reaches any of them', async (t) => {
  const { a, b, c, close } = await chain('rxwait-any')
  const waiter = new RxWaiter()
  // Long enough that a wait that missed the delivery fails the test by ava's timeout.
  const woken = waiter.wait([b, c], 60_000)
  const one = new Uint32Array(1)
  t.is(a.malloc(one), 1)
  a.send(one[0], 1)
  t.is(a.tx(one), 1)
  t.true(await woken, 'woken by the delivery to c')
  const got = new Uint32Array(4)
  t.is(b.rx(got), 0)
  t.is(c.rx(got), 1)
  c.free(got, 1)
  close()
})

test.serial('a wait ends at once when a ring already holds packets, and says no packet after its timeout', async (t) => {
  const { a, b, c, close } = await chain('rxwait-timeout')
  const waiter = new RxWaiter()
  t.false(await waiter.wait([b, c], 30), 'nothing came: false after the timeout')
  const burst = new Uint32Array(3)
  t.is(a.malloc(burst), 3)
  t.is(a.tx(burst), 3)
  // Delivered by the manager thread meanwhile: the wait sees it before sleeping.
  t.true(await waiter.wait([c, b], 60_000))
  const got = new Uint32Array(4)
  t.is(b.rxWait(got, 1000), 3)
  b.free(got, 3)
  close()
})

test.serial('interrupt() ends a pending wait with false; a later wait is not ended by it', async (t) => {
  const { b, c, close } = await chain('rxwait-interrupt')
  const waiter = new RxWaiter()
  const pending = waiter.wait([b, c], 60_000)
  waiter.interrupt()
  t.false(await pending)
  const started = performance.now()
  t.false(await waiter.wait([b], 50))
  t.true(performance.now() - started >= 45, 'the earlier interrupt did not cut the next wait short')
  close()
})

test.serial('detaching an endpoint that a wait sleeps on ends the wait and the detach returns', async (t) => {
  const { a, b, c, m } = await chain('rxwait-detach')
  const waiter = new RxWaiter()
  const pending = waiter.wait([b, c], 60_000)
  b.detach() // waits for the waiter to let go of b's side: it must be woken, not left to its timeout
  t.true(await pending, 'woken: b is gone, and its own calls now say so')
  t.throws(() => b.rx(new Uint32Array(1)))
  a.detach()
  c.detach()
  m.close()
})

test.serial('with no endpoint a wait is a sleep that interrupt() ends; more than 127 are refused', async (t) => {
  const { b, close } = await chain('rxwait-none')
  const waiter = new RxWaiter()
  const pending = waiter.wait([], 60_000)
  waiter.interrupt()
  t.false(await pending)
  await t.throwsAsync(() => waiter.wait(new Array(RxWaiter.MAX + 1).fill(b), 10), { instanceOf: RangeError })
  t.false(await waiter.wait(new Array(RxWaiter.MAX).fill(b), 10), 'as many as it takes')
  close()
})
