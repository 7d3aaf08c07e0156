// The buffer pool: free buffers (on the free stack or parked in endpoints' caches), those in
// use (in rings, in the manager's hands, in an NF's), and allocations that found none.
import { Text } from 'ink'
import { bar, fillColor, si } from '../format.ts'
import type { DashboardModel } from '../model.ts'
import type { PanelContent } from './panel.tsx'

export function poolContent(model: DashboardModel, width: number): PanelContent {
  const p = model.pool
  const barWidth = Math.max(8, Math.min(30, width - 70))
  const line = (
    <Text>
      <Text color={fillColor(p.inUse, p.buffers)}>{bar(p.inUse, p.buffers, barWidth)}</Text>
      {` in use ${String(p.inUse).padStart(String(p.buffers).length)}/${p.buffers}  free ${String(p.free).padStart(String(p.buffers).length)}  `}
      <Text color={p.allocFailures ? 'red' : undefined}>{`alloc failures ${si(p.allocFailures)}`}</Text>
    </Text>
  )
  return { lines: [line] }
}
