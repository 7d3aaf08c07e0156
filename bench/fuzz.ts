// Fuzz at bench scale (--only fuzz): ten million seeded random and mutated frames through each
// built-in NF (the fuzz test's fuzzer, test/nfs/fuzzer.ts, which runs a million in CI). Each
// NF must not throw and must count every drop under a named reason; its time per frame is
// printed beside a pass-through NF's on the same frames (the harness's own cost).
import { fuzz, subjects } from '../test/nfs/fuzzer.ts'
import type { Report } from './report.ts'

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 10_000_000)

function timed(kind: string): { nsPerFrame: number; named: boolean } {
  const start = performance.now()
  const r = fuzz(kind, FRAMES)
  const nsPerFrame = ((performance.now() - start) * 1e6) / FRAMES
  const named = Object.entries(r.counters).filter(([k]) => k.startsWith('drop/')).reduce((n, [, v]) => n + v, 0)
  return { nsPerFrame, named: named === r.drops + r.droppedByNf && r.consumedSeen === r.consumed && r.held === 0 }
}

export async function run(report: Report): Promise<void> {
  report.section(`Fuzz: ${FRAMES.toLocaleString("en")} seeded random and mutated frames per NF`)
  const floor = timed('l2fwd')
  for (const kind of Object.keys(subjects)) {
    const r = kind === 'l2fwd' ? floor : timed(kind)
    if (!r.named) throw new Error(`${kind}: a drop not counted under a named reason, or a packet left held`)
    report.compare(`${kind}: fuzzed frames, no throw, every drop named`, r.nsPerFrame, 'ns/frame', 'l2fwd (pass-through) on the same frames', floor.nsPerFrame, 'lower')
  }
}
