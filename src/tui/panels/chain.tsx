// The chain as it is wired: from the spec, lines that follow packets from where they enter to
// where they leave; from the region alone (top), each endpoint and where its gates lead.
import { Text } from 'ink'
import { chainLines, type Topology } from '../topology.ts'
import type { PanelContent } from './panel.tsx'

export function chainContent(topology: Topology): PanelContent {
  const lines = chainLines(topology).map((hops) =>
    hops.map((hop, i) => (
      <Text key={i}>
        <Text bold color={hop.isPort ? 'magenta' : 'cyan'}>
          {hop.endpoint}
        </Text>
        {i < hops.length - 1 && <Text color="gray">{hop.gate ? ` ─${hop.gate}─▶ ` : ' ──▶ '}</Text>}
      </Text>
    )),
  )
  return { lines }
}
