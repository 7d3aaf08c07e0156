export interface Percentiles {
  median: number
  p99: number
  mean: number
  count: number
}

export function percentiles(samples: Float64Array): Percentiles {
  const sorted = Float64Array.from(samples).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  let sum = 0
  for (const s of sorted) sum += s
  return { median: at(0.5), p99: at(0.99), mean: sum / sorted.length, count: sorted.length }
}
