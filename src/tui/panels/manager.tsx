// The manager thread: packets routed per second, how busy it is (the share of its polls that
// found work: near 100 % it is the bottleneck, as OpenNetVM found), and how often it slept
// and was woken. Refusals and cut-off endpoints, the marks of a faulty NF, show only when there
// are any; so do capture taps (xio-chain capture) and the copies they made and lost.
import { Text } from 'ink'
import { cell, percent, si } from '../format.ts'
import type { DashboardModel } from '../model.ts'
import type { PanelContent } from './panel.tsx'

export function managerContent(model: DashboardModel): PanelContent {
  const m = model.manager
  const busyColor = m.busy === null ? undefined : m.busy >= 0.9 ? 'red' : m.busy > 0.5 ? 'yellow' : 'green'
  const line = (
    <Text>
      {`routed ${cell(m.routedRate)} pps  busy `}
      <Text color={busyColor}>{percent(m.busy).padStart(4)}</Text>
      {`  sleeps ${cell(m.sleeps)} (${cell(m.sleepRate)}/s)  wake-ups ${cell(m.wakeups)} (${cell(m.wakeRate)}/s)  held back ${si(m.held)} in all  `}
      <Text color={m.sleeping ? 'blue' : 'green'}>{m.sleeping ? 'asleep' : 'polling'}</Text>
      {m.refused + m.faults > 0 && <Text color="red">{`  refused ${si(m.refused)}  cut off ${m.faults}`}</Text>}
      {m.taps > 0 && `  capture: ${m.taps} taps, ${si(m.captured)} copies`}
      {m.taps > 0 && m.captureLost > 0 && <Text color="yellow">{`, ${si(m.captureLost)} lost`}</Text>}
    </Text>
  )
  return { lines: [line] }
}
