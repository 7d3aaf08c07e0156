// What an NF's own bugs cost: never the chain. A process() that throws loses its packet; one
// that returns something that is no gate (undefined: a forgotten return), or sends it with a
// length past its buffer, has it dropped; a tick(), idle() or counters() that throws is
// skipped (a throwing idle() counts as a tick's). Each is counted under its own name beside
// the NF's counters (the lost packets as drop reasons: drop/processThrew, drop/badVerdict,
// drop/badLength), where the dashboard shows it, and said on stderr with the error, at most
// once a second per kind, so a fault on every packet does not flood the log.
import { fileURLToPath } from 'node:url'
import { DROP_REASON } from './nf-types.ts'

const SAY_EVERY_MS = 1000

export class NFFaults {
  /** process() threw: the packet was dropped. */
  processErrors = 0
  /** process() returned no gate of the NF's (nor DROP or HOLD): the packet was dropped. */
  badVerdicts = 0
  /** process() sent a packet with a length past its buffer, or no length: the packet was dropped. */
  badLengths = 0
  tickErrors = 0
  countersErrors = 0
  private readonly lastSaid = new Map<string, number>()

  constructor(private readonly name: string, private readonly gates: readonly string[] = []) {}

  threw(e: unknown): void {
    this.processErrors++
    this.say('process', `process() threw (packet dropped; ${this.processErrors} so far): ${describe(e)}`)
  }

  badVerdict(gate: unknown): void {
    this.badVerdicts++
    // A gate's name for its number is the likeliest slip: say which number it is.
    const named = typeof gate === 'string' ? this.gates.indexOf(gate) : -1
    const hint = named >= 0 ? `; a gate is returned by its number: ${named} for '${gate}'` : ''
    this.say('verdict', `process() returned ${String(gate)}, which is no gate of this NF (packet dropped; ${this.badVerdicts} so far${hint})`)
  }

  badLength(length: unknown, capacity: number): void {
    this.badLengths++
    this.say('length', `process() set the packet's length to ${String(length)}, which is no length of a buffer of ${capacity} bytes (packet dropped; ${this.badLengths} so far)`)
  }

  /** Runs tick(), idle() or counters(), counting and saying what it throws. */
  guard<R>(what: 'tick' | 'idle' | 'counters', f: () => R): R | undefined {
    try {
      return f()
    } catch (e) {
      const count = what === 'counters' ? ++this.countersErrors : ++this.tickErrors
      this.say(what, `${what}() threw (${count} so far): ${describe(e)}`)
      return undefined
    }
  }

  any(): boolean {
    return this.processErrors + this.badVerdicts + this.badLengths + this.tickErrors + this.countersErrors > 0
  }

  /** The NF's counters with the faults that happened added first (none of them when all is well). */
  addTo(counters: Record<string, number>): Record<string, number> {
    if (!this.any()) return counters
    const faults = Object.entries({
      [`${DROP_REASON}processThrew`]: this.processErrors,
      [`${DROP_REASON}badVerdict`]: this.badVerdicts,
      [`${DROP_REASON}badLength`]: this.badLengths,
      tickErrors: this.tickErrors,
      countersErrors: this.countersErrors,
    }).filter(([, n]) => n > 0)
    return { ...Object.fromEntries(faults), ...counters }
  }

  private say(kind: string, message: string): void {
    const now = performance.now()
    if (now - (this.lastSaid.get(kind) ?? -Infinity) < SAY_EVERY_MS) return
    this.lastSaid.set(kind, now)
    process.stderr.write(`${this.name}: ${message}\n`)
  }
}

// This package's own code (src/ or dist/, two folders up from here) and Node's: frames of the
// runner, not of the NF, which a reader of the error has no use for.
const platform = fileURLToPath(new URL('../..', import.meta.url))
const ownFrame = (line: string) => line.includes(`${platform}src/`) || line.includes(`${platform}dist/`) || line.includes('(node:') || / at node:/.test(line)

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e)
  // Where in the NF it happened: its own frames (at most three), not the runner's that called it.
  const frames = (e.stack ?? '').split('\n').slice(1).filter((line) => /^\s+at /.test(line) && !ownFrame(line)).slice(0, 3)
  return `${e.name}: ${e.message}${frames.length ? `\n${frames.join('\n')}` : ''}`
}
