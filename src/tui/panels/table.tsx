// Fixed-width tables: every column has a width its values never exceed, so numbers stay in
// place from one refresh to the next; narrow terminals lose the least useful columns first.
import { Text } from 'ink'
import { fitColumns, type Column } from '../layout.ts'
import type { PanelContent } from './panel.tsx'

function pad(text: string, width: number, align: 'left' | 'right' = 'right'): string {
  const cut = text.length > width ? text.slice(0, width) : text
  return align === 'left' ? cut.padEnd(width) : cut.padStart(width)
}

export function table<Row>(columns: Column<Row>[], rows: Row[], width: number): PanelContent {
  const shown = fitColumns(columns, width)
  const header = <Text bold>{shown.map((c) => pad(c.title, c.width, c.align)).join(' ')}</Text>
  const lines = rows.map((row) =>
    shown.map((c, i) => (
      <Text key={i} color={c.color?.(row)}>
        {(i ? ' ' : '') + pad(c.value(row), c.width, c.align)}
      </Text>
    )),
  )
  return { header, lines }
}
