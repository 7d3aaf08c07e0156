// An endpoint in the manager's own process (a port) that waits on the manager's CPU makes the
// manager's passes itself, instead of handing the CPU to the manager's thread and waiting to get
// it back; the thread stands aside meanwhile, and is back on duty once the port stops. Real
// processes: the echo and the flow after it are other processes, routed by this one's manager.
import test, { type ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpus } from 'node:os'
import { attach, Manager, setAffinity, type Xio } from '../../src/xio/index.ts'
import { addon } from '../../src/xio/native.ts'
import { finished, removeLeftoverRegions, startTraffic, stop, uniquePrefix, until } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)
test.afterEach.always(() => setAffinity(cpus().map((_, i) => i)))

const MANAGER_CPU = 0
const ROUNDS = 2000

/** Whether one instance of the endpoint is attached. */
const attached = (m: Manager, name: string) => m.snapshot().services.find((s) => s.name === name)!.instances === 1

/** A manager on MANAGER_CPU routing port ⇄ echo and gen → sink, this process pinned to portCpu, an echo process. */
async function beside(portCpu: number, assistManager?: boolean) {
  const m = Manager.create({ prefix: uniquePrefix('assist'), buffers: 2048 })
  for (const name of ['port', 'echo', 'gen', 'sink']) m.declare(name)
  m.route('port', 0, 'echo')
  m.route('echo', 0, 'port')
  m.route('gen', 0, 'sink')
  const echo = startTraffic('echo', m.prefix, 'echo') // spawned before the pinning below: on any CPU
  setAffinity([portCpu]) // this process's threads; the manager's pins itself as it starts
  m.start({ cpu: MANAGER_CPU })
  const port = await attach({ prefix: m.prefix, name: 'port', assistManager })
  if (!(await until(() => attached(m, 'echo')))) throw new Error('the echo did not attach')
  return { m, echo, port }
}

/** One packet at a time through the echo and back, waiting in rxWait; how many came back. */
function pingPong(port: Xio, rounds: number): number {
  const one = new Uint32Array(1)
  let back = 0
  for (let i = 0; i < rounds; i++) {
    if (port.malloc(one, 1) !== 1) break
    port.setLength(one[0], 64)
    port.send(one[0], 0)
    if (port.tx(one, 1) !== 1) break
    if (port.rxWait(one, 2000) !== 1) break
    port.free(one, 1)
    back++
  }
  return back
}

test.serial('a port waiting on the manager\'s CPU makes its passes; once it stops, the manager\'s thread routes again', async (t) => {
  const { m, echo, port } = await beside(MANAGER_CPU)
  const before = m.snapshot().manager
  t.is(pingPong(port, ROUNDS), ROUNDS, 'every packet came back')
  const after = m.snapshot().manager
  // Each round trip waits in rxWait at least once, and the thread stands aside once it sees
  // passes made for it: all but a handful of a round trip's passes are the port's.
  t.true(after.assistedLoops - before.assistedLoops >= ROUNDS / 2, `passes made by the port: ${after.assistedLoops - before.assistedLoops} for ${ROUNDS} round trips`)
  t.true(after.routed - before.routed >= 2 * ROUNDS)

  // The port no longer waits (it stays attached, and makes no more passes): a flow between two
  // other processes is the thread's to route.
  await flowGetsThrough(t, m, 'the flow after the port stopped got through')
  port.detach()
  await stop(echo)
  m.close()
})

test.serial('a wait that stalls, its passes stopped and its end never come, does not keep the manager\'s thread away', async (t) => {
  const { m, echo, port } = await beside(MANAGER_CPU)
  t.is(pingPong(port, ROUNDS / 4), ROUNDS / 4)
  // One turn of a wait, as rxWait's spin makes them, and then nothing: no more passes, and no
  // endAssist (a wait frozen by a long garbage collection looks so to the manager's thread).
  // A turn makes a pass unless the manager's thread is in one (its lock taken): then it only
  // yields, and the next turn is tried, until one has made a pass.
  const before = m.snapshot().manager.assistedLoops
  for (let turns = 0; m.snapshot().manager.assistedLoops === before && turns < 1000; turns++) addon.assistManager(m.handle.assistId())
  t.is(m.snapshot().manager.assistedLoops, before + 1, 'a turn made a pass')
  await flowGetsThrough(t, m, 'the thread came back while the wait was still on')
  port.detach()
  await stop(echo)
  m.close()
})

test.serial('beside a busy loop on the manager\'s CPU, a port\'s wait sleeps until its packets come, rather than yield to the loop', async (t) => {
  // Where a task that never sleeps shares the CPU, a yield waits out that task's slice (ms): a
  // wait made of yields would move a packet a slice. Once yields say so (two that a stranger
  // took, within 20 ms), the port's waits sleep on their futex, woken by the delivery, and the
  // manager's thread sleeps when idle instead of yielding.
  const { m, echo, port } = await beside(MANAGER_CPU)
  const busy = spawn('taskset', ['-c', String(MANAGER_CPU), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' })
  t.teardown(() => busy.kill('SIGKILL'))
  await once(busy, 'spawn')
  const portSlot = () => m.snapshot().slots.find((s) => s.state === 'active' && s.name === 'port')!
  const sleepsBefore = portSlot().endpoint.sleeps
  t.is(pingPong(port, ROUNDS), ROUNDS, 'every packet came back')
  const sleeps = portSlot().endpoint.sleeps - sleepsBefore
  t.true(sleeps >= ROUNDS / 2, `the port slept in ${sleeps} of ${ROUNDS} waits`)
  busy.kill('SIGKILL')
  await once(busy, 'exit')
  port.detach()
  await stop(echo)
  m.close()
})

/** 5,000 packets gen → sink, two processes (on CPU 0 with the manager: they inherit this process's pinning): all arrive, in order. */
async function flowGetsThrough(t: ExecutionContext, m: Manager, message: string) {
  const sink = startTraffic('consume', m.prefix, 'sink')
  t.true(await until(() => attached(m, 'sink')))
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 5000 })
  const arrived = () => m.snapshot().slots.filter((s) => s.name === 'sink').reduce((n, s) => n + s.route.rxPackets, 0)
  t.true(await until(() => arrived() === 5000, 10_000), `${message}: ${arrived()} of 5000`)
  await finished(gen)
  const report = await stop(sink)
  t.is(report.received, 5000, message)
  t.is(report.outOfOrder, 0)
}

;(cpus().length > 1 ? test.serial : test.serial.skip)('a port on another CPU than the manager\'s only yields: it makes no pass', (t) => makesNoPass(t, MANAGER_CPU + 1))

test.serial('a port attached with assistManager false (the launcher\'s) only yields, even on the manager\'s CPU', (t) => makesNoPass(t, MANAGER_CPU, false))

/** Round trips from a port on portCpu, which the manager's counters show made none of its passes. */
async function makesNoPass(t: ExecutionContext, portCpu: number, assistManager?: boolean) {
  const { m, echo, port } = await beside(portCpu, assistManager)
  const before = m.snapshot().manager.assistedLoops
  t.is(pingPong(port, ROUNDS / 4), ROUNDS / 4)
  t.is(m.snapshot().manager.assistedLoops, before)
  port.detach()
  await stop(echo)
  m.close()
}
