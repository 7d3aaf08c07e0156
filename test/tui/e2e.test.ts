// The real CLI on a real terminal (tmux): `run` shows the dashboard over a loaded chain, `top`
// watches it from a second terminal (started elsewhere, from source), q stops the chain cleanly,
// and top says the chain stopped.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { bin, root, startXioChain, xioChain } from '../helpers/cli.ts'
import { once } from 'node:events'
import { observe, type Observer } from '../../src/xio/index.ts'
import { observerSource } from '../../src/tui/sources.ts'
import { uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

const socket = `xio-dash-${process.pid}`
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
const capture = (session: string) => {
  try {
    return tmux('capture-pane', '-p', '-t', session)
  } catch {
    return ''
  }
}
const sessionAlive = (session: string) => {
  try {
    tmux('has-session', '-t', session)
    return true
  } catch {
    return false
  }
}

/** Pids of processes whose command line mentions the prefix (the CLI and its NF processes). */
function processesOf(prefix: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(prefix)) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

/**
 * Starts a command in its own tmux session (a real terminal), in folder `cwd`, recording its exit
 * status; fromSource runs the checkout's TypeScript through tsx, as after an edit.
 */
function start(session: string, args: string[], dir: string, { cwd = root, fromSource = false } = {}): string {
  const status = join(dir, `${session}.status`)
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  // Without CI in its environment: ink draws only a final frame when it thinks it runs in CI,
  // and CI runs this test with CI=true.
  const env = fromSource ? ' XIO_CHAIN_FROM_SOURCE=1' : ''
  const command = `env -u CI${env} ${[process.execPath, bin, ...args].map(quote).join(' ')}; echo $? > ${quote(status)}`
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', '-c', cwd, '-e', 'LANG=C.UTF-8', command)
  return status
}

const ringRow = (screen: string, endpoint: string, ring: string) =>
  new RegExp(`^${endpoint} +${ring} +[█▏▎▍▌▋▊▉░]+ +(\\d+)/(\\d+) +\\d+% +(\\S+)`, 'm').exec(screen)
const nonZero = (cell: string | undefined) => !!cell && /^[\d.]+[kMG]?$/.test(cell) && Number.parseFloat(cell) > 0

test('run shows the dashboard under load, top watches it, q stops everything and leaves /dev/shm clean', async (t) => {
  try {
    execFileSync('tmux', ['-V'])
  } catch {
    t.fail('tmux is needed for this test (apt-get install tmux; .ci/run installs it)')
    return
  }
  const prefix = uniquePrefix('dash')
  const dir = scratchDir('dash')
  t.teardown(() => {
    try {
      tmux('kill-server')
    } catch {
      // no server left: every session ended
    }
    for (const pid of processesOf(prefix)) process.kill(pid, 'SIGKILL')
    rmSync(`/dev/shm/xio.${prefix}`, { force: true })
    rmSync(dir, { recursive: true, force: true })
  })

  const runStatus = start('run', ['run', 'test/fixtures/fw-nat-generator.json', '--prefix', prefix], dir)
  // Rates show on the first frame after traffic flows; what the NFs count for themselves comes
  // with their next publication (twice a second), later on a busy machine: wait for all of it.
  const expected: [what: string, pattern: RegExp][] = [
    ['the chain with its gate names', /lan ──▶ fw ──▶ nat ─outside─▶ wan/],
    ['how long the firewall takes over a burst', /^fw +burst p50 \S+ +p99 \S+/m],
    ['firewall rule hits by comment', /\bweb [\d.]+[kM]?\b/],
    ['that q stops the chain', /q quit \(stops the chain\)/],
  ]
  const missing = (screen: string) => expected.filter(([, pattern]) => !pattern.test(screen)).map(([what]) => what)
  let screen = ''
  const loaded = await until(() => {
    screen = capture('run')
    const fwRx = ringRow(screen, 'fw', 'rx')
    const lanTx = /^lan +running +\d+ +\S+ +\S+ +(\S+)/m.exec(screen)
    return nonZero(fwRx?.[3]) && nonZero(lanTx?.[1]) && missing(screen).length === 0
  }, 60_000, 250)
  t.log(`\n${screen}`)
  t.true(loaded, `no ring rows with non-zero rates, or not all the dashboard shows, on the screen:\n${screen}`)
  for (const endpoint of ['lan', 'wan', 'fw', 'nat']) for (const ring of ['rx', 'tx']) t.truthy(ringRow(screen, endpoint, ring), `${endpoint} ${ring} ring row`)
  t.deepEqual(missing(screen), [], 'the dashboard lacks these')

  // From a folder outside the checkout, from source: tsx once took its JSX settings from there.
  const topStatus = start('top', ['top', '--prefix', prefix], dir, { cwd: dir, fromSource: true })
  let topScreen = ''
  const watching = await until(() => {
    topScreen = capture('top')
    return /^xio-chain top/.test(topScreen) && nonZero(ringRow(topScreen, 'fw', 'rx')?.[3]) && /\bweb [\d.]+[kM]?\b/.test(topScreen)
  }, 30_000, 250)
  t.true(watching, `top shows no rates:\n${topScreen}`)
  t.regex(topScreen, /lan ──▶ fw ──▶ nat ─outside─▶ wan/, 'top draws the chain with its gate names, as run does')
  t.regex(topScreen, /\bweb [\d.]+[kM]?\b/, 'and names firewall rules by their comments')

  tmux('send-keys', '-t', 'run', 'q')
  t.true(await until(() => existsSync(runStatus) && !sessionAlive('run'), 30_000, 100), 'run did not exit after q')
  t.is(readFileSync(runStatus, 'utf8').trim(), '0')
  t.true(await until(() => existsSync(topStatus), 10_000, 100), 'top did not exit when the chain stopped')
  t.is(readFileSync(topStatus, 'utf8').trim(), '0')
  t.true(await until(() => processesOf(prefix).length === 0, 10_000, 100), `processes left: ${processesOf(prefix)}`)
  t.false(existsSync(`/dev/shm/xio.${prefix}`), 'the region was removed')
})

test('top on a prefix with no chain says so and exits 1', async (t) => {
  const prefix = uniquePrefix('dash-none')
  const r = await xioChain(['top', '--prefix', prefix])
  t.is(r.code, 1)
  t.regex(r.stderr, new RegExp(`^xio-chain top: no xio region for prefix '${prefix}'.*is a chain running`))
})

test.serial('top names gates and rules as run does, from the spec the region records', async (t) => {
  const prefix = uniquePrefix('names')
  const cli = startXioChain(['run', 'chains/fw-nat.json', '--no-tui', '--prefix', prefix])
  t.teardown(() => cli.kill('SIGKILL'))
  let observer: Observer | undefined
  t.true(await until(() => {
    try {
      observer ??= observe(prefix)
      return observer.view.snapshot().slots.filter((s) => s.state === 'active').length >= 4
    } catch {
      return false
    }
  }, 20_000, 50), cli.output())
  const topology = (await observerSource(observer!)).topology()
  t.true(topology.links.some((l) => l.from === 'nat' && l.gate === 'outside' && l.to === 'wan'), JSON.stringify(topology.links))
  t.deepEqual(topology.endpoints.find((e) => e.name === 'fw')?.rules, ['web', 'web over TLS', 'DNS', 'ping'])
  t.true(topology.endpoints.find((e) => e.name === 'lan')?.isPort, 'ports are told from NFs')
  observer!.close()
  cli.kill('SIGINT')
  await once(cli, 'exit')
})
