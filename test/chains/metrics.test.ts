// Metrics as operators take them: a running chain serves its counters in the Prometheus text
// format (`run --metrics`, or `metrics --prefix` from another process), Prometheus's own
// promtool accepts the exposition, and a real Prometheus server scrapes it.
import test from 'ava'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { startXioChain, xioChain } from '../helpers/cli.ts'
import { removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { parseListen } from '../../src/cli/metrics.ts'

// A chain a failed test left to its teardown's SIGKILL leaves its region: remove this file's.
test.after.always(removeLeftoverRegions)

const dir = scratchDir('metrics')

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

async function get(url: string): Promise<{ status: number; text: string } | null> {
  try {
    const r = await fetch(url)
    return { status: r.status, text: await r.text() }
  } catch {
    return null
  }
}

/** The value of one sample in an exposition, or undefined. */
function sample(text: string, metric: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line)
    if (m && m[1] === metric && want.every((l) => (m[2] ?? '').split(',').includes(l))) return Number(m[3])
  }
  return undefined
}

function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    )
    child.stdin!.end(text)
  })
}

// Traffic at a steady rate through a firewall that drops one kind of it (the echo generator's).
const spec = join(dir, 'chain.json')
writeFileSync(spec, JSON.stringify({
  endpoints: {
    traffic: { kind: 'generator', rate: 2000, flows: 4 },
    echo: { kind: 'generator', rate: 200, flows: 1, proto: 'udp', dstPort: 7 },
    fw: { kind: 'firewall', config: { default: 'allow', rules: [{ comment: 'no echo', action: 'drop', proto: 'udp', dstPort: 7 }] } },
    sink: { kind: 'sink' },
  },
  links: ['traffic -> fw', 'echo -> fw', 'fw -> sink'],
}))

test('run --metrics serves every counter; promtool accepts it; a real Prometheus scrapes it; metrics and stats read it from outside', async (t) => {
  const prefix = uniquePrefix('metrics')
  const port = await freePort()
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix, '--metrics', `127.0.0.1:${port}`])
  t.teardown(() => chain.kill('SIGKILL'))
  const url = `http://127.0.0.1:${port}/metrics`
  let text = ''
  t.true(await until(async () => {
    const r = await get(url)
    text = r?.text ?? ''
    // Traffic through, and the firewall's counters published (it does so twice a second).
    return (sample(text, 'xio_endpoint_rx_packets_total', { endpoint: 'sink' }) ?? 0) > 0 &&
      sample(text, 'xio_nf_value', { endpoint: 'fw', name: 'defaultPackets' }) !== undefined &&
      (sample(text, 'xio_nf_drops_total', { endpoint: 'fw', reason: 'rule/0' }) ?? 0) > 0
  }, 30_000, 100), chain.output())

  // Every family the chain has, with labels naming the endpoint, its instance and slot.
  for (const family of ['xio_endpoint_tx_packets_total', 'xio_endpoint_dropped_total', 'xio_endpoint_up', 'xio_endpoint_buffers', 'xio_ring_used', 'xio_ring_refused_total',
    'xio_pool_in_use_buffers', 'xio_manager_routed_total', 'xio_manager_held_total', 'xio_nf_value', 'xio_service_rx_packets_total', 'xio_service_deaths_total'])
    t.regex(text, new RegExp(`^# TYPE ${family} (counter|gauge)$`, 'm'), family)
  // Per endpoint over all its instances: here one each, so the same count as its slot's.
  t.is(sample(text, 'xio_service_tx_packets_total', { endpoint: 'fw' }), sample(text, 'xio_endpoint_tx_packets_total', { endpoint: 'fw' }))
  t.is(sample(text, 'xio_endpoint_up', { endpoint: 'fw', instance: '0' }), 1)
  // Its buffers: at least its cache, which the manager fills as it is taken on; at most half the pool.
  t.true((sample(text, 'xio_endpoint_buffers', { endpoint: 'fw' }) ?? 0) > 0)
  t.true((sample(text, 'xio_ring_size', { endpoint: 'fw', ring: 'rx' }) ?? 0) >= 64)
  t.true((sample(text, 'xio_nf_value', { endpoint: 'fw', name: 'defaultPackets' }) ?? 0) > 0)
  t.true((sample(text, 'xio_manager_routed_total', {}) ?? 0) > 0)
  // The NF's drops by reason, its drop rule by index, as xio_nf_drops_total{reason}.
  t.true(sample(text, 'xio_nf_drops_total', { endpoint: 'fw', reason: 'rule/0' })! > 0)
  t.is(sample(text, 'xio_nf_drops_total', { endpoint: 'fw', reason: 'malformed' }), 0)
  t.is(sample(text, 'xio_nf_value', { endpoint: 'fw', name: 'drop/malformed' }), undefined, 'drops are not NF values too')
  t.is((await get(`http://127.0.0.1:${port}/`))?.status, 404)

  const lint = await promtool(text)
  t.is(lint.code, 0, lint.output)
  t.is(lint.output.trim(), '', 'promtool has no complaint')

  // A real Prometheus server, scraping every second, answers a query about the chain.
  const promPort = await freePort()
  const config = join(dir, 'prometheus.yml')
  writeFileSync(config, `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: xio\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`)
  const prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' })
  t.teardown(() => prometheus.kill('SIGKILL'))
  const query = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('xio_endpoint_rx_packets_total{endpoint="sink"}')}`
  let scraped = 0
  t.true(await until(async () => {
    const r = await get(query)
    const result = r?.status === 200 ? (JSON.parse(r.text) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result : []
    scraped = Number(result[0]?.value[1] ?? 0)
    return scraped > 0 && result[0].metric.job === 'xio'
  }, 60_000, 250), 'Prometheus scraped the chain')
  t.true(scraped > 0)
  prometheus.kill('SIGTERM')
  await once(prometheus, 'exit')

  // From another process, read-only: the same families, once (stats) or served (metrics).
  const stats = await xioChain(['stats', '--prefix', prefix, '--json'])
  t.is(stats.code, 0, stats.stderr)
  // The same families and samples as the exposition, as JSON.
  const once_ = JSON.parse(stats.stdout) as { prefix: string; metrics: Record<string, { type: string; help: string; samples: Array<{ labels: Record<string, string | number>; value: number }> }> }
  t.is(once_.prefix, prefix)
  t.is(once_.metrics.xio_manager_routed_total.type, 'counter')
  t.true(once_.metrics.xio_manager_routed_total.samples[0].value > 0)
  t.true(once_.metrics.xio_endpoint_rx_packets_total.samples.some((x) => x.labels.endpoint === 'fw' && x.value > 0))
  t.true(once_.metrics.xio_nf_drops_total.samples.some((x) => x.labels.endpoint === 'fw' && x.labels.reason === 'rule/0' && x.value > 0))
  t.deepEqual(Object.keys(once_.metrics).sort(), [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]).sort(), 'every family of the exposition')
  const text2 = await xioChain(['stats', '--prefix', prefix])
  t.regex(text2.stdout, /^xio_endpoint_rx_packets_total\{endpoint="fw",instance="0",slot="\d+"\} \d+$/m)
  const port2 = await freePort()
  const served = startXioChain(['metrics', '--prefix', prefix, '--listen', String(port2)])
  t.teardown(() => served.kill('SIGKILL'))
  t.true(await until(async () => (sample((await get(`http://127.0.0.1:${port2}/metrics`))?.text ?? '', 'xio_endpoint_tx_packets_total', { endpoint: 'traffic' }) ?? 0) > 0, 20_000, 100), served.output())
  // The chain going away ends `metrics` by itself.
  chain.kill('SIGINT')
  await once(chain, 'exit')
  t.true(await until(() => served.exitCode !== null, 10_000, 50), served.output())
  t.regex(served.output(), /has stopped/)
})

test('a placement group\'s process is served as the group, its members\' counters as theirs, in run and from outside', async (t) => {
  const grouped = join(dir, 'grouped.json')
  writeFileSync(grouped, JSON.stringify({
    endpoints: {
      lan: { kind: 'generator', rate: 2000, flows: 4 },
      fw: { kind: 'firewall', group: 'edge', config: { default: 'allow' } },
      nat: { kind: 'nat', group: 'edge', config: { external: '203.0.113.1', inside: '10.0.0.0/8' } },
      wan: { kind: 'sink' },
    },
    links: ['lan -> fw', 'fw -> nat', 'nat.outside -> wan'],
  }))
  const prefix = uniquePrefix('metrics-group')
  const port = await freePort()
  const chain = startXioChain(['run', grouped, '--no-tui', '--prefix', prefix, '--metrics', `127.0.0.1:${port}`])
  t.teardown(() => chain.kill('SIGKILL'))
  const row = { endpoint: 'edge(fw+nat)', group: 'edge' }
  let text = ''
  t.true(await until(async () => {
    text = (await get(`http://127.0.0.1:${port}/metrics`))?.text ?? ''
    return (sample(text, 'xio_endpoint_rx_packets_total', row) ?? 0) > 0 && (sample(text, 'xio_nf_value', { endpoint: 'nat', group: 'edge', name: 'translatedOut' }) ?? 0) > 0
  }, 30_000, 100), chain.output())
  t.true((sample(text, 'xio_nf_value', { endpoint: 'fw', group: 'edge', name: 'defaultPackets' }) ?? 0) > 0, 'the firewall\'s own counters, as its own')
  t.is(sample(text, 'xio_endpoint_up', row), 1)
  t.truthy(sample(text, 'xio_ring_used', { ...row, ring: 'rx' }) !== undefined)
  t.truthy(sample(text, 'xio_service_rx_packets_total', row) !== undefined)
  for (const member of ['fw', 'nat']) {
    t.is(sample(text, 'xio_endpoint_rx_packets_total', { endpoint: member }), undefined, `no slot series reads as ${member}'s alone`)
    t.is(sample(text, 'xio_service_rx_packets_total', { endpoint: member }), undefined, `no totals read as ${member}'s alone`)
  }
  const lint = await promtool(text)
  t.is(lint.code, 0, lint.output)
  // From outside, the groups come from the spec the region records.
  const stats = await xioChain(['stats', '--prefix', prefix])
  t.is(stats.code, 0, stats.stderr)
  t.true((sample(stats.stdout, 'xio_endpoint_rx_packets_total', row) ?? 0) > 0, stats.stdout.slice(0, 2000))
  chain.kill('SIGINT')
  await once(chain, 'exit')
})

test('a mistaken --listen or --metrics, or a port taken, is one line and a non-zero exit', async (t) => {
  const r1 = await xioChain(['run', spec, '--no-tui', '--metrics', 'port9'])
  t.is(r1.code, 1)
  t.is(r1.stderr.trim(), 'xio-chain run: --metrics port9: expected [host:]port, e.g. 9464 or 0.0.0.0:9464')
  const taken = createServer().listen(0, '127.0.0.1')
  await once(taken, 'listening')
  const { port } = taken.address() as { port: number }
  const r2 = await xioChain(['run', spec, '--no-tui', '--prefix', uniquePrefix('metrics-taken'), '--metrics', String(port)])
  taken.close()
  t.is(r2.code, 1)
  t.regex(r2.stderr.trim(), new RegExp(`^xio-chain run: --metrics ${port}: listen EADDRINUSE`))
  const r3 = await xioChain(['metrics', '--prefix', 'no-such-chain-here', '--listen', '9'])
  t.is(r3.code, 1)
  t.is(r3.stderr.trim().split('\n').length, 1)
})

test('--listen reads [host:]port', (t) => {
  t.deepEqual(parseListen('9464'), { host: '127.0.0.1', port: 9464 })
  t.deepEqual(parseListen('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 })
  t.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 })
  for (const bad of ['', 'x', '0', '70000', ':', 'host:', '1.2.3.4:99999']) t.is(parseListen(bad), null, bad)
})
