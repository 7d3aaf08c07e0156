// Fuzz, seeded: a million frames through every built-in NF, random bytes and valid frames
// mutated (bytes flipped, cut short, lengths and headers lied about), from both sides of the
// NFs that have sides (test/nfs/fuzzer.ts; ten million in `npm run bench -- --only fuzz`). No NF
// may throw, and every packet it drops must be counted under a named reason (drop/<reason>):
// the drops seen equal the sum of its drop counters at the end.
import test from 'ava'
import { fuzz, subjects } from './fuzzer.ts'

const FRAMES = 1_000_000

for (const kind of Object.keys(subjects)) {
  test(`${kind}: ${FRAMES.toLocaleString('en')} seeded random and mutated frames, no throw, every drop under a named reason`, (t) => {
    const { drops, droppedByNf, counters, consumedSeen, consumed, held } = fuzz(kind, FRAMES)
    const named = Object.entries(counters).filter(([k]) => k.startsWith('drop/')).reduce((n, [, v]) => n + v, 0)
    t.is(named, drops + droppedByNf, `drops seen: ${drops} by verdict, ${droppedByNf} by env.packets; counters: ${JSON.stringify(counters)}`)
    t.is(consumedSeen, consumed, 'what it consumed (CONSUMED), as its counters say')
    t.is(held, 0, 'nothing left held')
    t.true(drops > FRAMES / 100, `the fuzz reaches drops: ${drops}`)
    t.log(`${kind}: ${drops} dropped, ${JSON.stringify(Object.fromEntries(Object.entries(counters).filter(([k, v]) => k.startsWith('drop/') && v > 0)))}`)
  })
}
