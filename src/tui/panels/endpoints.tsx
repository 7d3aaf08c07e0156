// Per endpoint (NF instance or port): what the manager delivered to it (rx), what it sent on
// (tx) and what was dropped on its behalf (its verdict, or a gate with no route), as rates and
// totals, with its process state and restarts.
import { labelWidth, type Column } from '../layout.ts'
import { CELL, si } from '../format.ts'
import type { DashboardModel, EndpointRow, EndpointState } from '../model.ts'
import type { PanelContent } from './panel.tsx'
import { table } from './table.tsx'

export const stateColor: Record<EndpointState, string> = {
  running: 'green',
  sleeping: 'blue',
  'at share': 'red',
  detaching: 'yellow',
  restarting: 'yellow',
  dead: 'red',
  down: 'red',
}

const W = CELL + 2
const n = (title: string, value: (r: EndpointRow) => number | null, dropOrder = 0, color?: Column<EndpointRow>['color']): Column<EndpointRow> => ({
  title,
  width: W,
  dropOrder,
  value: (r) => si(value(r)),
  color,
})

const columns = (rows: EndpointRow[]): Column<EndpointRow>[] => [
  { title: 'endpoint', width: labelWidth(rows.map((r) => r.label)), align: 'left', value: (r) => r.label },
  { title: 'state', width: 10, align: 'left', value: (r) => r.state, color: (r) => stateColor[r.state] },
  { title: 'pid', width: 7, dropOrder: 5, value: (r) => (r.pid ? String(r.pid) : '-') },
  n('rx pps', (r) => r.rx),
  n('rx bps', (r) => r.rxBits, 1),
  n('tx pps', (r) => r.tx),
  n('tx bps', (r) => r.txBits, 1),
  n('drop/s', (r) => r.drop, 0, (r) => (r.drop ? 'red' : undefined)),
  n('rx tot', (r) => r.rxTotal, 3),
  n('tx tot', (r) => r.txTotal, 3),
  n('drops', (r) => r.dropTotal, 2),
  { title: 'restarts', width: 8, value: (r) => (r.restarts === null ? '' : String(r.restarts)), color: (r) => (r.restarts ? 'yellow' : undefined) },
]

export function endpointsContent(model: DashboardModel, width: number): PanelContent {
  return table(columns(model.endpoints), model.endpoints, width)
}
