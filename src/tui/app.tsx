// The dashboard screen: a header, the panels fitted to the terminal, a help line, and the keys.
// It shows models a feed publishes (the refresh loop lives in dashboard.tsx) and never touches
// the region itself.
import { Box, Text, useInput, useStdout } from 'ink'
import { useEffect, useRef, useState } from 'react'
import { plan } from './layout.ts'
import type { DashboardModel } from './model.ts'
import { panels } from './panels/index.ts'
import { Panel, wanted } from './panels/panel.tsx'

/** Where models come from: the latest one, and a way to hear of the next. */
export interface Feed {
  current(): DashboardModel | null
  subscribe(listener: (model: DashboardModel) => void): () => void
}

export interface AppProps {
  feed: Feed
  /** The dashboard runs the chain (run): quitting stops it, and the help line says so. */
  owns: boolean
  onQuit(): void
  /** Fixed size (tests); otherwise the terminal's, following resizes. */
  size?: { columns: number; rows: number }
  /** Whether keys can be read (stdin is a terminal). */
  keys?: boolean
}

function useTerminalSize(fixed?: { columns: number; rows: number }) {
  const { stdout } = useStdout()
  const read = () => fixed ?? { columns: stdout.columns || 80, rows: stdout.rows || 24 }
  const [size, setSize] = useState(read)
  useEffect(() => {
    if (fixed) return
    const onResize = () => setSize(read())
    stdout.on('resize', onResize)
    return () => void stdout.off('resize', onResize)
  }, [stdout, fixed])
  return fixed ?? size
}

function clock(seconds: number): string {
  const s = Math.floor(seconds)
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60)
  return `${h ? `${h}:` : ''}${String(m).padStart(h ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`
}

export function App({ feed, owns, onQuit, size, keys = true }: AppProps) {
  const { columns, rows } = useTerminalSize(size)
  const [model, setModel] = useState(feed.current())
  const [paused, setPaused] = useState(false)
  const pausedRef = useRef(false)
  const [focus, setFocus] = useState(0)

  useEffect(() => feed.subscribe((m) => pausedRef.current || setModel(m)), [feed])

  useInput(
    (input, key) => {
      if (input === 'q' || (key.ctrl && input === 'c')) return onQuit()
      if (input === 'p') {
        pausedRef.current = !pausedRef.current
        setPaused(pausedRef.current)
        if (!pausedRef.current) setModel(feed.current())
        return
      }
      const step = (key.tab && key.shift) || key.leftArrow || key.upArrow ? -1 : key.tab || key.rightArrow || key.downArrow ? 1 : 0
      if (step) setFocus((f) => f + step)
    },
    { isActive: keys },
  )

  if (!model) return <Text>attaching…</Text>

  const width = columns
  const shown = panels.map((def) => ({ def, content: def.content(model, width, model.topology) })).filter((p) => wanted(p.content) > 0)
  const focused = shown[((focus % shown.length) + shown.length) % shown.length]
  const layout = plan(
    shown.map((p) => ({ id: p.def.id, want: wanted(p.content) })),
    focused.def.id,
    columns,
    rows,
  )
  if (!layout.ok)
    return (
      <Text wrap="wrap" color="yellow">
        {`Terminal ${columns}×${rows} is too small for the dashboard: it needs ${layout.need.columns}×${layout.need.rows}. Enlarge it, or press q to quit.`}
      </Text>
    )

  // p freezes what is shown, not the chain: say so, so nobody takes it for a paused data plane.
  const help = `q quit${owns ? ' (stops the chain)' : ''} · p ${paused ? 'unfreeze' : 'freeze'} display · tab/arrows: next panel (${focused.def.title})`
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate">
        <Text bold>{`xio-chain ${owns ? 'run' : 'top'}`}</Text>
        {`  ${model.name === model.prefix ? '' : `${model.name}  `}prefix ${model.prefix}  ${clock(model.watching)}`}
        {paused && (
          <Text inverse color="yellow">
            {' DISPLAY FROZEN, traffic flows on '}
          </Text>
        )}
        {model.event && <Text color="yellow">{`  ${model.event}`}</Text>}
      </Text>
      {shown.map((p) => (
        <Panel
          key={p.def.id}
          title={p.def.title}
          focused={p === focused}
          width={width}
          height={layout.heights.get(p.def.id)!}
          content={p.content}
        />
      ))}
      <Text wrap="truncate" dimColor>
        {help}
      </Text>
    </Box>
  )
}
