// Fitting the panels into the terminal. Every panel gets its title and at least one line; the
// focused one then gets all it wants, the others share what is left in screen order. When
// even that does not fit, the dashboard says so instead of drawing a broken screen.

/** Columns below which the tables cannot show a name, a state and the rates. */
export const MIN_COLUMNS = 60

/** Lines outside the panels: the header and the help line. */
export const CHROME_LINES = 2

export interface PanelNeed {
  id: string
  /** Lines the panel would use in full, title included (0: nothing to show, hidden). */
  want: number
}

export type Plan = { ok: true; heights: Map<string, number> } | { ok: false; need: { columns: number; rows: number } }

export function plan(panels: PanelNeed[], focused: string, columns: number, rows: number): Plan {
  const heights = new Map<string, number>()
  for (const p of panels) heights.set(p.id, Math.min(p.want, 2))
  const minimum = CHROME_LINES + [...heights.values()].reduce((a, b) => a + b, 0)
  if (columns < MIN_COLUMNS || rows < minimum) return { ok: false, need: { columns: MIN_COLUMNS, rows: minimum } }
  let spare = rows - minimum
  const grow = (p: PanelNeed) => {
    const more = Math.min(spare, p.want - heights.get(p.id)!)
    if (more <= 0) return
    heights.set(p.id, heights.get(p.id)! + more)
    spare -= more
  }
  const first = panels.find((p) => p.id === focused)
  if (first) grow(first)
  for (const p of panels) grow(p)
  return { ok: true, heights }
}

export interface Column<Row> {
  title: string
  width: number
  align?: 'left' | 'right'
  /** Columns with a higher number go first when the terminal is narrow; 0 never goes. */
  dropOrder?: number
  value: (row: Row) => string
  color?: (row: Row) => string | undefined
}

/**
 * The width of a column of endpoint labels: the longest of them, at least 12 (a name and an
 * instance, `fw#1`) and at most 28, so a group's row (`edge(fw+nat+router)`) is read whole.
 */
export function labelWidth(labels: Iterable<string>): number {
  let widest = 12
  for (const label of labels) widest = Math.max(widest, label.length)
  return Math.min(widest, 28)
}

/** The columns that fit in `width` (one space between columns), in their original order. */
export function fitColumns<Row>(columns: Column<Row>[], width: number): Column<Row>[] {
  const kept = [...columns]
  const total = () => kept.reduce((a, c) => a + c.width, 0) + Math.max(0, kept.length - 1)
  while (total() > width) {
    let worst = -1
    kept.forEach((c, i) => {
      if ((c.dropOrder ?? 0) > 0 && (worst < 0 || (c.dropOrder ?? 0) > (kept[worst].dropOrder ?? 0))) worst = i
    })
    if (worst < 0) break
    kept.splice(worst, 1)
  }
  return kept
}
