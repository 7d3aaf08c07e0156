// The manager thread: packets routed per second, how busy it is (the share of its polls that
// found work: near 100 % it is the bottleneck, as OpenNetVM found), and how often it slept
// and was woken. Refusals and cut-off endpoints, the marks of a faulty NF, show only when there are any.
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
      {`  sleeps ${cell(m.sleeps)} (${cell(m.sleepRate)}/s)  wake-ups ${cell(m.wakeups)} (${cell(m.wakeRate)}/s)  held ${si(m.held)}  `}
      <Text color={m.sleeping ? 'blue' : 'green'}>{m.sleeping ? 'asleep' : 'polling'}</Text>
      {m.refused + m.faults > 0 && <Text color="red">{`  refused ${si(m.refused)}  cut off ${m.faults}`}</Text>}
    </Text>
  )
  return { lines: [line] }
}
