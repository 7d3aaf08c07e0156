// The chain as it is wired: from the spec, lines that follow packets from where they enter to
// where they leave; from the region alone (top), each endpoint and where its gates lead. A link
// inside a placement group is a call, not a ring hop, and is drawn apart (══▶).
import { Text } from 'ink'
import { chainLines, groupsOf, type Hop, type Topology } from '../topology.ts'
import type { PanelContent } from './panel.tsx'

export function chainContent(topology: Topology): PanelContent {
  const lines = chainLines(topology).map((hops) =>
    hops.map((hop, i) => (
      <Text key={i}>
        <Text bold color={hop.isPort ? 'magenta' : 'cyan'}>
          {hop.endpoint}
        </Text>
        {i < hops.length - 1 && <Text color="gray">{arrow(hop)}</Text>}
      </Text>
    )),
  )
  const groups = groupsOf(topology)
  if (groups.length) {
    lines.push([
      <Text key="groups" color="gray">
        {groups.length === 1 ? `group ${groups[0]}: one process per instance, ══▶ a call inside it` : `groups ${groups.join(', ')}: one process per instance, ══▶ a call inside one`}
      </Text>,
    ])
  }
  return { lines }
}

function arrow(hop: Hop): string {
  const line = hop.call ? '═' : '─'
  return hop.gate ? ` ${line}${hop.gate}${line}▶ ` : ` ${line}${line}▶ `
}
