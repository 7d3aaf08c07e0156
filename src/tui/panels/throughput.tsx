// Chain throughput over the last minute: packets the manager routed per second, one sample
// per refresh, as a sparkline scaled to the minute's peak.
import { Text } from 'ink'
import { cell, sparkline } from '../format.ts'
import type { DashboardModel } from '../model.ts'
import type { PanelContent } from './panel.tsx'

export function throughputContent(model: DashboardModel, width: number): PanelContent {
  const now = model.throughput.at(-1) ?? null
  const peak = model.throughput.length ? Math.max(...model.throughput) : null
  const label = `  now ${cell(now)} pps  peak ${cell(peak)} pps`
  const line = (
    <Text>
      <Text color="cyan">{sparkline(model.throughput, Math.max(10, width - label.length))}</Text>
      {label}
    </Text>
  )
  return { lines: [line] }
}
