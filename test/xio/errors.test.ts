// Every failure a user can cause at attach or create time gives a typed, explanatory error.
import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, writeFileSync, rmSync, statSync } from 'node:fs'
import { attach, Manager, XioError } from '../../src/xio/index.ts'
import { attachAs, finished, removeLeftoverRegions, tryInChild, uniquePrefix, until } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)

const NOBODY = { uid: 65534, gid: 65534 }

async function attachError(prefix: string, name = 'a') {
  const error = await attach({ prefix, name }).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof XioError)) throw new Error(`expected an XioError, got ${String(error)}`)
  return error
}

test('attaching to a prefix nobody created says so and names the prefix', async (t) => {
  const prefix = uniquePrefix('missing')
  const e = await attachError(prefix)
  t.is(e.code, 'NO_REGION')
  t.true(e.message.includes(`'${prefix}'`) && e.message.includes(`/dev/shm/xio.${prefix}`))
})

test('a region of another layout version is refused, not misread', async (t) => {
  const prefix = uniquePrefix('version')
  const header = Buffer.alloc(8192)
  header.write('XIOCHAIN', 0, 'latin1')
  header.writeUInt32LE(999, 8)
  writeFileSync(`/dev/shm/xio.${prefix}`, header)
  const e = await attachError(prefix)
  t.is(e.code, 'LAYOUT_VERSION')
  t.regex(e.message, /layout version 999/)
  rmSync(`/dev/shm/xio.${prefix}`)
})

test('a file that is not a region is refused', async (t) => {
  const prefix = uniquePrefix('garbage')
  writeFileSync(`/dev/shm/xio.${prefix}`, Buffer.alloc(8192, 7))
  t.is((await attachError(prefix)).code, 'NOT_A_REGION')
  rmSync(`/dev/shm/xio.${prefix}`)
})

test('a second manager for a live prefix is refused, naming the owner', async (t) => {
  const prefix = uniquePrefix('double')
  const owner = tryInChild(['create', prefix, '60000'])
  t.true(await until(() => owner.lines.length > 0))
  const second = await finished(tryInChild(['create', prefix]))
  t.is(second.code, 'ALREADY_OWNED')
  t.true((second.message as string).includes(`pid ${owner.child.pid}`))
  owner.child.kill('SIGTERM')
  await owner.exited
})

test('a /dev/shm too small for the region is refused at creation, saying how much it needs', async (t) => {
  // A private mount namespace with a 1 MB /dev/shm: the region needs more.
  const smallShm = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /dev/shm && exec "$0" "$@"']
  const result = await finished(tryInChild(['create', uniquePrefix('nospace')], undefined, smallShm))
  t.is(result.code, 'NO_SPACE')
  t.regex(result.message as string, /needs \d+ MB in \/dev\/shm, 1 MB free/)
})

test('a region too large for JavaScript to map is refused before anything is made', (t) => {
  const prefix = uniquePrefix('huge')
  const e = t.throws(() => Manager.create({ prefix, buffers: 65534, bufferSize: 65536 }), { instanceOf: XioError })
  t.is(e!.code, 'BAD_CONFIG')
  t.regex(e!.message, /under 4096 MB/)
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test('a prefix another manager is still creating is refused, not taken over', async (t) => {
  const prefix = uniquePrefix('creating')
  const file = `/dev/shm/xio.${prefix}`
  writeFileSync(file, '')
  // A creator between shm_open and writing its header: the file exists, empty, and its
  // manager lease (a lock on byte 0) is held. POSIX record locks and OFD locks conflict.
  const lease = `import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
print('held', flush=True)
time.sleep(30)`
  const holder = spawn('python3', ['-c', lease, file], { stdio: ['ignore', 'pipe', 'inherit'] })
  await once(holder.stdout!, 'data')
  const e = t.throws(() => Manager.create({ prefix, buffers: 256 }), { instanceOf: XioError })
  t.is(e!.code, 'ALREADY_OWNED')
  t.regex(e!.message, /still starting/)
  holder.kill()
  await once(holder, 'exit')
  const m = Manager.create({ prefix, buffers: 256 })
  t.pass('once the creator is gone, the prefix is free')
  m.close()
})

test('a region left by a dead manager is reported stale, then replaced on create', async (t) => {
  const prefix = uniquePrefix('stale')
  const owner = tryInChild(['create', prefix, '60000'])
  t.true(await until(() => owner.lines.length > 0))
  owner.child.kill('SIGKILL')
  await owner.exited
  t.is((await attachError(prefix)).code, 'MANAGER_GONE')
  const m = Manager.create({ prefix, buffers: 256 })
  m.declare('a')
  m.start()
  const xio = await attach({ prefix, name: 'a' })
  t.is(xio.region.header32('managerPid'), process.pid, 'the new region is ours, not the dead one')
  xio.detach()
  m.close()
})

test('the region is owner-only unless a group is given; others get a permission error', async (t) => {
  const prefix = uniquePrefix('perm')
  const m = Manager.create({ prefix, buffers: 256 })
  m.declare('a')
  m.start()
  t.is(statSync(`/dev/shm/xio.${prefix}`).mode & 0o777, 0o600)
  const denied = await attachAs(NOBODY, prefix, 'a')
  t.is(denied.code, 'PERMISSION')
  t.regex(denied.message as string, /permission denied/)
  m.close()

  const shared = Manager.create({ prefix, buffers: 256, mode: 0o660, gid: NOBODY.gid })
  shared.declare('a')
  shared.start()
  t.is(statSync(`/dev/shm/xio.${prefix}`).gid, NOBODY.gid)
  const allowed = await attachAs(NOBODY, prefix, 'a')
  t.true(allowed.ok as boolean)
  shared.close()
})

test('an undeclared endpoint name, or one slot too many, is refused with the reason', async (t) => {
  const prefix = uniquePrefix('names')
  const m = Manager.create({ prefix, buffers: 256, slots: 2 })
  m.declare('fw')
  m.declare('nat')
  m.start()
  const unknown = await attachError(prefix, 'nta')
  t.is(unknown.code, 'UNKNOWN_ENDPOINT')
  t.regex(unknown.message, /no endpoint named 'nta' \(it has: fw, nat\)/)
  const a = await attach({ prefix, name: 'fw' })
  const b = await attach({ prefix, name: 'fw' })
  const full = await attachError(prefix, 'nat')
  t.is(full.code, 'NO_SLOT')
  a.detach()
  b.detach()
  m.close()
})

test('prefixes are isolated: names and traffic of one never reach the other', async (t) => {
  const [p1, p2] = [uniquePrefix('iso'), uniquePrefix('iso')]
  const m1 = Manager.create({ prefix: p1, buffers: 256 })
  const m2 = Manager.create({ prefix: p2, buffers: 256 })
  m1.declare('a')
  m1.declare('b')
  m1.route('a', 0, 'b')
  m2.declare('b')
  for (const m of [m1, m2]) m.start()
  t.is((await attachError(p2, 'a')).code, 'UNKNOWN_ENDPOINT')
  const a = await attach({ prefix: p1, name: 'a' })
  const b1 = await attach({ prefix: p1, name: 'b' })
  const b2 = await attach({ prefix: p2, name: 'b' })
  const burst = new Uint32Array(8)
  t.is(a.tx(burst, a.malloc(burst)), 8)
  t.true(await until(() => m1.snapshot().manager.routed === 8))
  const rx = new Uint32Array(32)
  t.is(b1.rxWait(rx, 1000), 8)
  t.is(b2.rxWait(rx, 50), 0)
  t.is(m2.snapshot().manager.routed, 0)
  for (const x of [a, b1, b2]) x.detach()
  m1.close()
  m2.close()
})

test('a closed manager leaves no /dev/shm object behind', (t) => {
  const prefix = uniquePrefix('clean')
  const m = Manager.create({ prefix, buffers: 256 })
  m.start()
  m.close()
  t.throws(() => statSync(`/dev/shm/xio.${prefix}`), { code: 'ENOENT' })
})

test('the addon refuses what would crash it: a wrong handle, a burst array inside the region', async (t) => {
  const { addon } = await import('../../src/xio/native.ts')
  const prefix = uniquePrefix('addon')
  const m = Manager.create({ prefix, buffers: 256 })
  m.declare('a')
  m.start()
  const xio = await attach({ prefix, name: 'a' })
  const region = addon.Region.attach(prefix, false)
  const endpoint = new addon.Endpoint(region, 'a', 10)
  t.throws(() => new addon.Endpoint(endpoint as never, 'a', 10), { instanceOf: TypeError, message: /region must be a Region/ })
  t.throws(() => xio.rx(xio.region.u32.subarray(0, 32)), { instanceOf: TypeError, message: /not a view of the region/ })
  // Before and after a burst array of its own passed: no fast path for what is no burst array.
  for (const passed of [false, true]) {
    if (passed) t.is(xio.rx(new Uint32Array(8)), 0)
    t.throws(() => xio.rx(null as never), { instanceOf: TypeError, message: /Uint32Array/ })
    t.throws(() => xio.rx(new Int32Array(8) as never), { instanceOf: TypeError, message: /Uint32Array/ })
  }
  t.not(endpoint.slot, xio.slot)
  const second = new addon.Endpoint(region, 'a', 10)
  t.not(second.slot, endpoint.slot, 'two endpoints on one region handle never share a slot')
  for (const e of [endpoint, second]) e.detach()
  xio.detach()
  m.close()
})

test('a handoff to an instance number or endpoint id no action can name is refused, not wrapped onto another', async (t) => {
  const m = Manager.create({ prefix: uniquePrefix('handoff-range'), buffers: 256 })
  m.declare('a')
  m.start()
  t.teardown(() => m.close())
  const a = await attach({ prefix: m.prefix, name: 'a' })
  t.teardown(() => a.detach())
  const one = new Uint32Array(1)
  t.is(a.malloc(one), 1)
  t.throws(() => a.sendToInstance(one[0], a.id, 32), { instanceOf: RangeError, message: /no such instance \(0 to 31\)/ })
  t.throws(() => a.sendToInstance(one[0], 64, 1), { instanceOf: RangeError, message: /no such endpoint id \(0 to 63\)/ })
  t.throws(() => a.sendToInstance(one[0], a.id, -1), { instanceOf: RangeError })
  a.sendToInstance(one[0], a.id, 31, 1)
  t.is(a.handoffTag(one[0]), 1, 'in range, as asked')
  a.free(one)
})
