// The plain stats lines of `run --no-tui`: what was really dropped is told apart from what a
// full ring pushed back (the sender keeps those and retries, so nothing is lost).
import test from 'ava'
import { statsLines } from '../../src/cli/stats.ts'
import { ring, snapshot } from '../tui/snapshots.ts'

test('ring refusals are backpressure, not drops', (t) => {
  const at = (time: number, refused: number, dropped: number) =>
    snapshot({ time, slots: [{ name: 'nat', service: 3, slot: 0, rx: 1000 + time, tx: 1000 + time, dropped, txRing: ring(0, 1024, 0, refused) }] })
  const line = statsLines(at(0, 0, 0), at(1000, 3200, 5)).find((l) => l.startsWith('nat'))!
  t.regex(line, /drop +5pps +backpressure +3\.2k\/s/)
  t.regex(line, /total rx \d+ tx \d+ drop 5$/)
})
