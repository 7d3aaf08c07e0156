// Numbers and glyphs for the dashboard. Every cell has a fixed width, so a column stays put
// while its value goes from 0 to 1.23G: at most three significant digits and one suffix, as
// top and DPDK's testpmd show rates.

/** The widest si() result: "-999k", "12.3M". */
export const CELL = 5

/** 0, 7, 0.5, 999, 1.00k, 12.3k, 999k, 1.23M ... ; '-' when unknown (no interval yet). */
export function si(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-'
  const units = ['', 'k', 'M', 'G', 'T']
  let x = Math.abs(value)
  let u = 0
  while (x >= 999.5 && u < units.length - 1) {
    x /= 1000
    u++
  }
  // Below 10 with a fraction: a rate of 0.5/s is not 0/s, and it is not 1/s either.
  const digits = u === 0 ? (x < 9.95 && !Number.isInteger(x) ? 1 : 0) : x < 9.995 ? 2 : x < 99.95 ? 1 : 0
  return `${value < 0 ? '-' : ''}${x.toFixed(digits)}${units[u]}`
}

/** si() right-aligned in `width` columns. */
/** Nanoseconds as people read them: 850ns, 12.4µs, 3.10ms, 1.20s. */
export function duration(ns: number): string {
  if (ns < 1000) return `${Math.round(ns)}ns`
  const [value, unit] = ns < 1e6 ? [ns / 1e3, 'µs'] : ns < 1e9 ? [ns / 1e6, 'ms'] : [ns / 1e9, 's']
  return `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)}${unit}`
}

export function cell(value: number | null | undefined, width = CELL): string {
  return si(value).padStart(width)
}

export function percent(fraction: number | null): string {
  return fraction === null ? '-' : `${Math.round(fraction * 100)}%`
}

export type FillColor = 'green' | 'yellow' | 'red'

/** Above half full a ring is backing up; at 90 % the next burst may be refused. */
export const YELLOW_ABOVE = 0.5
export const RED_FROM = 0.9

export function fillColor(used: number, size: number): FillColor {
  const f = size > 0 ? used / size : 0
  return f >= RED_FROM ? 'red' : f > YELLOW_ABOVE ? 'yellow' : 'green'
}

const eighths = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉']

/** A bar of exactly `width` cells, in eighths; anything above zero shows at least a sliver. */
export function bar(used: number, size: number, width: number): string {
  if (width <= 0) return ''
  const f = size > 0 ? Math.min(1, Math.max(0, used / size)) : 0
  let units = Math.round(f * width * 8)
  if (used > 0 && units === 0) units = 1
  const full = Math.floor(units / 8)
  const part = eighths[units % 8]
  return ('█'.repeat(full) + part).padEnd(width, '░')
}

const levels = '▁▂▃▄▅▆▇█'

/**
 * The last samples as `width` cells, scaled to the highest; when there are more samples than
 * cells, neighbours are averaged so a minute always spans the width.
 */
export function sparkline(samples: readonly number[], width: number): string {
  if (width <= 0) return ''
  const per = Math.max(1, Math.ceil(samples.length / width))
  const points: number[] = []
  for (let end = samples.length; end > 0 && points.length < width; end -= per) {
    const chunk = samples.slice(Math.max(0, end - per), end)
    points.unshift(chunk.reduce((a, b) => a + b, 0) / chunk.length)
  }
  const top = Math.max(0, ...points)
  const line = points.map((v) => (top > 0 ? levels[Math.min(levels.length - 1, Math.floor((v / top) * levels.length))] : levels[0])).join('')
  return line.padStart(width)
}
