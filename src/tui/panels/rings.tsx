// Per ring: how full it is (a bar turning yellow above half and red near full), how fast
// descriptors go in (now, and a sparkline of the last half minute or so), and how many were refused because it was full. RX is the manager's
// delivery to the endpoint, TX the endpoint's sending; a ring that stays full is where the
// chain is slowest.
import { labelWidth, type Column } from '../layout.ts'
import { bar, CELL, fillColor, percent, si, sparkline } from '../format.ts'
import type { DashboardModel, RingRow } from '../model.ts'
import type { PanelContent } from './panel.tsx'
import { table } from './table.tsx'

const W = CELL + 2
const BAR_MIN = 8
const BAR_MAX = 40
/** Cells of each ring's sparkline: its rate over the last RING_HISTORY refreshes. */
const TREND = 10

export function ringsContent(model: DashboardModel, width: number): PanelContent {
  const color = (r: RingRow) => fillColor(r.used, r.size)
  const occupancy: Column<RingRow> = { title: 'occupancy', width: BAR_MIN, align: 'left', value: () => '', color }
  const columns: Column<RingRow>[] = [
    { title: 'endpoint', width: labelWidth(model.rings.map((r) => r.label)), align: 'left', value: (r) => r.label },
    { title: 'ring', width: 4, align: 'left', value: (r) => r.ring },
    occupancy,
    { title: 'used/size', width: 11, value: (r) => `${r.used}/${r.size}`, color },
    { title: 'fill', width: 4, dropOrder: 1, value: (r) => percent(r.size ? r.used / r.size : 0), color },
    { title: 'in/s', width: W, value: (r) => si(r.rate) },
    { title: 'trend', width: TREND, dropOrder: 3, align: 'left', value: (r) => sparkline(r.history, TREND) },
    { title: 'full/s', width: W, dropOrder: 2, value: (r) => si(r.fullRate), color: (r) => (r.fullRate ? 'red' : undefined) },
    { title: 'full', width: W, value: (r) => si(r.full), color: (r) => (r.full ? 'yellow' : undefined) },
  ]
  // The bar takes whatever the other columns leave, within bounds.
  const others = columns.filter((c) => c !== occupancy)
  const rest = others.reduce((a, c) => a + c.width + 1, 0)
  occupancy.width = Math.max(BAR_MIN, Math.min(BAR_MAX, width - rest))
  occupancy.value = (r) => bar(r.used, r.size, occupancy.width)
  return table(columns, model.rings, width)
}
