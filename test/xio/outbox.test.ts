// What an NF makes and sends outside process()'s return (env.packets, the runner's Outbox),
// on a real region: packets of its own making.
import test from 'ava'
import { attach, Manager, Outbox } from '../../src/xio/index.ts'
import { removeLeftoverRegions, uniquePrefix } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)

test('env.packets.alloc() gives each buffer one Packet, reused and reset when the buffer comes back: fresh every time, no object per packet', async (t) => {
  const m = Manager.create({ prefix: uniquePrefix('outbox'), buffers: 256 })
  m.declare('a')
  m.route('a', 0, 'a')
  m.start()
  t.teardown(() => m.close())
  const a = await attach({ prefix: m.prefix, name: 'a' })
  t.teardown(() => a.detach())
  const out = new Outbox(a)
  const first = out.alloc()!
  const second = out.alloc()!
  t.not(first, second)
  t.not(first.d, second.d)
  first.length = 60
  first.flowHash = 7
  first.handoff = 1
  const d = first.d
  out.drop(first.d)
  out.drop(second.d)
  t.true(out.flush(() => false))
  // Allocated and dropped one at a time, the 256 buffers go round the pool and the cache: the
  // first one comes back.
  let again = null
  for (let i = 0; i < 2048 && !again; i++) {
    const p = out.alloc()
    if (p === null) continue // the cache empty until the manager refills it
    if (p.d === d) again = p
    else out.drop(p.d)
    t.true(out.flush(() => false))
  }
  t.is(again, first, 'the same object for the same buffer')
  t.like(again, { length: 0, flowHash: 0, handoff: -1, from: a.id, inPort: a.id, at: a.offset(d) })
})
