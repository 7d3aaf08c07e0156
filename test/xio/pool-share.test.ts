// Whether an endpoint holds its share of the pool, as observers judge it: its instances'
// buffers together, as the manager counts them against the share.
import test from 'ava'
import { holdsItsShare } from '../../src/xio/pool-share.ts'
import type { SlotSnapshot } from '../../src/xio/region-view.ts'

const slot = (name: string, buffers: number, more: { state?: SlotSnapshot['state']; capture?: boolean } = {}) => ({ name, buffers, state: more.state ?? 'active', capture: more.capture ?? false })
const pool = { share: 2048 }

test('two instances that together hold the share both hold it; one alone below it does not', (t) => {
  const slots = [slot('nat', 1024), slot('nat', 1024), slot('fw', 2000)]
  t.true(holdsItsShare(slots[0], { slots, pool }))
  t.true(holdsItsShare(slots[1], { slots, pool }))
  t.false(holdsItsShare(slots[2], { slots, pool }))
})

test('an instance leaving or cut off counts until the manager takes its buffers back, as the manager counts it', (t) => {
  for (const state of ['detaching', 'faulted'] as const) {
    const slots = [slot('nat', 1024), slot('nat', 1024, { state })]
    t.true(holdsItsShare(slots[0], { slots, pool }), state)
  }
  t.false(holdsItsShare(slot('nat', 1024), { slots: [slot('nat', 1024), slot('nat', 1024, { state: 'free' })], pool }), 'a free slot holds nothing')
})

test('a capture of the same name and a pool without shares do not count', (t) => {
  const slots = [slot('nat', 1024), slot('nat', 1024, { capture: true })]
  t.false(holdsItsShare(slots[0], { slots, pool }))
  t.false(holdsItsShare(slots[1], { slots, pool }), 'a capture\'s copies are under a budget of their own')
  t.false(holdsItsShare(slot('nat', 4096), { slots: [slot('nat', 4096)], pool: { share: 0 } }))
})
