// The frame every panel shares: a title rule (highlighted when focused), an optional header
// that stays when the panel is cut short, and its lines, cut to the height it was given with
// a count of what did not fit, so a short terminal hides rows visibly, never silently.
import { Box, Text } from 'ink'
import type { ReactNode } from 'react'

export interface PanelContent {
  header?: ReactNode
  lines: ReactNode[]
}

/** Lines a panel needs in full: its title, its header, its lines (none: hidden). */
export function wanted(content: PanelContent): number {
  return content.lines.length ? 1 + (content.header ? 1 : 0) + content.lines.length : 0
}

export interface PanelProps {
  title: string
  focused: boolean
  width: number
  /** Lines, title included; at least 2. */
  height: number
  content: PanelContent
}

export function Panel({ title, focused, width, height, content }: PanelProps) {
  const room = height - 1
  const header = content.header ? [content.header] : []
  let body: ReactNode[] = [...header, ...content.lines]
  let hidden = 0
  if (body.length > room) {
    const keep = room >= 2 ? header.length : 0
    const lines = content.lines.slice(0, Math.max(0, room - keep - 1))
    hidden = content.lines.length - lines.length
    body = [...header.slice(0, keep), ...lines]
  }
  const rule = Math.max(0, width - title.length - 4)
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate" color={focused ? 'cyan' : 'gray'}>
        {focused ? '━ ' : '─ '}
        <Text bold inverse={focused} color={focused ? 'cyan' : 'white'}>
          {title}
        </Text>
        {' ' + (focused ? '━' : '─').repeat(rule)}
      </Text>
      {body.map((line, i) => (
        <Text key={i} wrap="truncate">
          {line}
        </Text>
      ))}
      {hidden > 0 && (
        <Text wrap="truncate" dimColor>
          {`… ${hidden} more ${hidden === 1 ? 'row' : 'rows'}${focused ? '' : ' (tab to this panel to see them)'}`}
        </Text>
      )}
    </Box>
  )
}
