import test from 'ava'
import { bar, cell, CELL, fillColor, si, sparkline } from '../../src/tui/format.ts'

test('si: three significant digits and a k, M or G suffix', (t) => {
  const cases: [number, string][] = [
    [0, '0'], [7, '7'], [0.5, '0.5'], [999, '999'], [999.4, '999'], [999.5, '1.00k'], [1000, '1.00k'],
    [1234, '1.23k'], [12_345, '12.3k'], [123_456, '123k'], [999_499, '999k'], [999_500, '1.00M'],
    [10_240_000, '10.2M'], [1_500_000_000, '1.50G'], [-2500, '-2.50k'],
  ]
  for (const [value, text] of cases) t.is(si(value), text, `si(${value})`)
  t.is(si(null), '-')
  t.is(si(Number.NaN), '-')
})

test('cells keep one width from zero to giga, so columns do not jump', (t) => {
  for (const v of [0, 9, 99, 999, 1e3, 9.99e3, 99.9e3, 999e3, 1e6, 123e6, 1.2e9, null]) t.is(cell(v).length, CELL, String(v))
})

test('fill colour: green up to half, yellow above half, red from 90 %', (t) => {
  t.is(fillColor(0, 1024), 'green')
  t.is(fillColor(512, 1024), 'green')
  t.is(fillColor(513, 1024), 'yellow')
  t.is(fillColor(921, 1024), 'yellow')
  t.is(fillColor(922, 1024), 'red')
  t.is(fillColor(1024, 1024), 'red')
  t.is(fillColor(0, 0), 'green')
})

test('bar: exact width, eighths, a sliver for anything above zero', (t) => {
  t.is(bar(0, 1024, 10), '░'.repeat(10))
  t.is(bar(1024, 1024, 10), '█'.repeat(10))
  t.is(bar(512, 1024, 10), '█████░░░░░')
  t.is(bar(1, 1024, 10), '▏░░░░░░░░░')
  t.is(bar(3, 16, 4), '▊░░░')
  for (let used = 0; used <= 64; used++) t.is([...bar(used, 64, 7)].length, 7)
})

test('sparkline: scaled to the peak, a minute squeezed into the width', (t) => {
  t.is(sparkline([0, 1, 2, 4, 8], 5), '▁▂▃▅█')
  t.is(sparkline([0, 0, 0], 3), '▁▁▁')
  t.is(sparkline([5, 5], 4), '  ██', 'fewer samples than cells: right-aligned, newest last')
  const minute = Array.from({ length: 120 }, (_, i) => (i < 60 ? 0 : 100))
  t.is(sparkline(minute, 12), '▁▁▁▁▁▁██████')
})
