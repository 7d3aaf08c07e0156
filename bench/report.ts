// One benchmark report for `npm run bench`: every suite adds results, printed as a table or,
// with --json, as one JSON object. A result compared with a peer measured in the same run
// carries the ratio oriented so that above 1 means xio-chain is better.

export interface Result {
  name: string
  value: number
  unit: string
  peer?: string
  peerValue?: number
  ratio?: number
  /** relative(): this figure over its peer's (xio / floor), and the most it may be (the target). */
  times?: number
  target?: number
  /** relative() over rounds: the lowest and highest of the rounds' own ratios (times is their median). */
  timesRange?: [number, number]
}

export type Better = 'lower' | 'higher'

export class Report {
  readonly results: Result[] = []

  add(name: string, value: number, unit: string): Result {
    const r: Result = { name, value, unit }
    this.results.push(r)
    if (!jsonMode()) console.log(`${name.padEnd(58)} ${fmt(value).padStart(12)} ${unit}`)
    return r
  }

  /** A figure beside the same figure for a peer, e.g. round trip vs Node's UDS. */
  compare(name: string, value: number, unit: string, peer: string, peerValue: number, better: Better): Result {
    const ratio = better === 'lower' ? peerValue / value : value / peerValue
    const r: Result = { name, value, unit, peer, peerValue, ratio }
    this.results.push(r)
    if (!jsonMode())
      console.log(`${name.padEnd(58)} ${fmt(value).padStart(12)} ${unit}   vs ${peer} ${fmt(peerValue)} ${unit}: ${ratio.toFixed(2)}x`)
    return r
  }

  /**
   * A figure beside a floor it is measured against (the C relay), as xio / floor: how many
   * times the floor's it is, with the target where the issue sets one (at most that many times).
   * With `rounds`, each round's own ratio of the two (measured back to back): the verdict is
   * their median, and their range is printed. A ratio within a round is steadier than the ratio
   * of two medians taken over minutes in which the machine's speed moves both.
   */
  relative(name: string, value: number, unit: string, peer: string, peerValue: number, { target, rounds }: { target?: number; rounds?: number[] } = {}): Result {
    const times = rounds?.length ? medianOf(rounds) : value / peerValue
    const timesRange: [number, number] | undefined = rounds?.length ? [Math.min(...rounds), Math.max(...rounds)] : undefined
    const r: Result = { name, value, unit, peer, peerValue, times, ...(target === undefined ? {} : { target }), ...(timesRange ? { timesRange } : {}) }
    this.results.push(r)
    if (!jsonMode()) {
      const spread = timesRange ? ` (rounds ${timesRange[0].toFixed(2)}-${timesRange[1].toFixed(2)})` : ''
      const goal = target === undefined ? '' : ` (target <= ${target}x: ${times <= target ? 'met' : 'not met'})`
      console.log(`${name.padEnd(58)} ${fmt(value).padStart(12)} ${unit}   vs ${peer} ${fmt(peerValue)} ${unit}: xio/floor ${times.toFixed(2)}x${spread}${goal}`)
    }
    return r
  }

  section(title: string): void {
    if (!jsonMode()) console.log(`\n## ${title}`)
  }
}

/** The middle value (the upper one of the two middle values for an even count). */
export const medianOf = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]

export function jsonMode(): boolean {
  return process.argv.includes('--json')
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  if (Math.abs(v) >= 100) return v.toFixed(0)
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}
