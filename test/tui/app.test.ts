// The whole screen on fixed snapshots: fitting the terminal, keys, pause.
import test from 'ava'
import { createElement as h } from 'react'
import { render } from 'ink-testing-library'
import { App, type Feed } from '../../src/tui/app.tsx'
import { Sampler, type DashboardModel } from '../../src/tui/model.ts'
import { after, before, fwNat } from './snapshots.ts'

class TestFeed implements Feed {
  latest: DashboardModel | null
  listeners = new Set<(m: DashboardModel) => void>()
  constructor(first: DashboardModel) {
    this.latest = first
  }
  current = () => this.latest
  subscribe(l: (m: DashboardModel) => void) {
    this.listeners.add(l)
    return () => void this.listeners.delete(l)
  }
  publish(m: DashboardModel) {
    this.latest = m
    for (const l of this.listeners) l(m)
  }
}

function models() {
  const sampler = new Sampler(fwNat)
  const first = sampler.next({ snapshot: before })
  const second = sampler.next({ snapshot: after })
  return { first, second }
}

const tick = () => new Promise((r) => setTimeout(r, 50))

function screen(size: { columns: number; rows: number }, owns = true) {
  const { first, second } = models()
  const feed = new TestFeed(second)
  let quits = 0
  const ui = render(h(App, { feed, topology: fwNat, owns, onQuit: () => quits++, size }))
  return { ui, feed, first, second, quits: () => quits }
}

test('every panel and the help line fit a 120×40 terminal', (t) => {
  const { ui } = screen({ columns: 120, rows: 40 })
  const lines = ui.lastFrame()!.split('\n')
  t.true(lines.length <= 40)
  t.true(lines.every((l) => l.length <= 120))
  for (const title of ['Chain', 'Endpoints', 'Rings', 'Pool', 'Manager', 'Throughput', 'NF counters']) t.true(lines.some((l) => l.includes(` ${title}`)), title)
  t.regex(lines.at(-1)!, /q quit \(stops the chain\) · p pause · tab\/arrows: next panel/)
  t.false(ui.lastFrame()!.includes('more row'))
  ui.unmount()
})

test('an 80×24 terminal: the focused panel in full, the others cut with a count', (t) => {
  const { ui } = screen({ columns: 80, rows: 24 })
  const lines = ui.lastFrame()!.split('\n')
  t.true(lines.length <= 24, `${lines.length} lines`)
  t.true(lines.every((l) => l.length <= 80))
  t.regex(ui.lastFrame()!, /more rows? \(tab to this panel/)
  ui.unmount()
})

test('too small a terminal says so instead of drawing', (t) => {
  const { ui } = screen({ columns: 50, rows: 10 })
  t.regex(ui.lastFrame()!, /^Terminal 50×10 is too small for the dashboard: it needs 60×\d+\. Enlarge it, or press q to quit\./)
  ui.unmount()
})

test('q quits, and the help line says whether that stops the chain', async (t) => {
  const { ui, quits } = screen({ columns: 120, rows: 40 }, false)
  t.regex(ui.lastFrame()!, /q quit · p pause/)
  await tick()
  ui.stdin.write('q')
  await tick()
  t.is(quits(), 1)
  ui.unmount()
})

test('tab and the arrows move the focus between panels', async (t) => {
  const { ui } = screen({ columns: 120, rows: 40 })
  const focused = () => /next panel \((.+)\)/.exec(ui.lastFrame()!)?.[1]
  t.is(focused(), 'Chain')
  await tick()
  ui.stdin.write('\t')
  await tick()
  t.is(focused(), 'Endpoints')
  ui.stdin.write('\x1b[C')
  await tick()
  t.is(focused(), 'Rings')
  ui.stdin.write('\x1b[D')
  await tick()
  ui.stdin.write('\x1b[D')
  await tick()
  t.is(focused(), 'Chain')
  ui.stdin.write('\x1b[A')
  await tick()
  t.is(focused(), 'NF counters', 'wraps around')
  ui.unmount()
})

test('p freezes the numbers while the feed goes on; p again shows the latest', async (t) => {
  const { ui, feed, first, second } = screen({ columns: 120, rows: 40 })
  const fwRow = () => ui.lastFrame()!.split('\n').find((l) => l.startsWith('fw '))!
  t.regex(fwRow(), /20\.0k/)
  await tick()
  ui.stdin.write('p')
  await tick()
  t.regex(ui.lastFrame()!, /PAUSED/)
  feed.publish(first)
  await tick()
  t.regex(fwRow(), /20\.0k/, 'still the paused numbers')
  ui.stdin.write('p')
  await tick()
  t.notRegex(ui.lastFrame()!, /PAUSED/)
  t.notRegex(fwRow(), /20\.0k/, 'the latest model: the first sample, no rates')
  feed.publish(second)
  await tick()
  t.regex(fwRow(), /20\.0k/)
  ui.unmount()
})
