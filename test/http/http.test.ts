// HTTP over xio sockets: the example api service (examples/http-services/api.ts, Node's http
// API with xio-chain's import) in a process of its own, requests from this process through
// xio-chain's http (Node's ClientRequest and parser, the xio agent), the manager here; then the
// example pair as a user runs it: `xio-chain run` with its chain, api and web, and people's
// requests to web over TCP.
import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as http from '../../src/http/index.ts'
import { removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { startXioChain } from '../helpers/cli.ts'
import { chainOf, fixture, kill, spawnJsonLines, type Child } from '../net/helpers.ts'

test.after.always(removeLeftoverRegions)

const example = (file: string) => fileURLToPath(new URL(`../../examples/http-services/${file}`, import.meta.url))

/** A process running one of the example's services, on the chain `prefix` (XIO_PREFIX). */
function run(file: string, prefix: string, args: string[] = []): Child {
  return spawnJsonLines(example(file), args, { ...process.env, XIO_PREFIX: prefix })
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  reused: boolean
}

function call(prefix: string, method: string, path: string, body?: Buffer | string, options: http.XioRequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ prefix, host: 'api', port: 80, method, path, localAddress: 'web', ...options }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

test.serial('REST over xio http: create, read, delete, 404, in Node semantics; keep-alive reuses the connection', async (t) => {
  const m = chainOf('http-rest', ['api', 'web'])
  const api = run('api.ts', m.prefix)
  try {
    await api.line((l) => l.listening === 'api:80')
    const created = await call(m.prefix, 'POST', '/items', JSON.stringify({ name: 'pear' }))
    t.is(created.status, 201)
    t.is(created.headers['content-type'], 'application/json')
    t.deepEqual(JSON.parse(created.body.toString()), { name: 'pear', id: 1 })
    const second = await call(m.prefix, 'POST', '/items', JSON.stringify({ name: 'fig' }))
    t.true(second.reused, 'the agent kept the connection alive and used it again')
    t.deepEqual(JSON.parse((await call(m.prefix, 'GET', '/items')).body.toString()), [{ name: 'pear', id: 1 }, { name: 'fig', id: 2 }])
    t.is((await call(m.prefix, 'DELETE', '/items/1')).status, 204)
    t.is((await call(m.prefix, 'GET', '/items/1')).status, 404)
    t.is((await call(m.prefix, 'POST', '/items', '[1]')).status, 400)
    t.is((await call(m.prefix, 'GET', '/nowhere')).status, 404)
  } finally {
    http.globalAgent.destroy()
    await kill(api)
    m.close()
  }
})

test.serial('bodies of any size come back whole, with content-length or chunked, many requests at once', async (t) => {
  const m = chainOf('http-bodies', ['api', 'web'])
  const api = run('api.ts', m.prefix)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  try {
    await api.line((l) => l.listening === 'api:80')
    for (const size of [0, 1, 1823, 1824, 1825, 65536, 1 << 20]) {
      const data = Buffer.alloc(size)
      for (let i = 0; i < size; i++) data[i] = (i * 7 + size) & 0xff
      const answer = await call(m.prefix, 'POST', '/echo', data, { agent })
      t.is(answer.status, 200)
      t.true(answer.body.equals(data), `${size} bytes`)
    }
    // A chunked request: written in pieces, no content-length.
    const chunked = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request({ prefix: m.prefix, host: 'api', port: 80, method: 'POST', path: '/echo', localAddress: 'web', agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve(Buffer.concat(chunks)))
      })
      req.on('error', reject)
      t.is(req.getHeader('content-length'), undefined)
      for (let i = 0; i < 50; i++) req.write(`piece ${i};`)
      req.end()
    })
    t.is(chunked.toString(), Array.from({ length: 50 }, (_, i) => `piece ${i};`).join(''))
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => call(m.prefix, 'POST', '/echo', `request ${i}`, { agent })))
    t.deepEqual(answers.map((a) => a.body.toString()), Array.from({ length: 200 }, (_, i) => `request ${i}`))
    t.true(Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length <= 16, 'at most maxSockets connections')
  } finally {
    agent.destroy()
    await kill(api)
    m.close()
  }
})

test.serial('a request to a service nobody runs fails with ECONNREFUSED; one whose server is killed mid-request with ECONNRESET', async (t) => {
  const m = chainOf('http-faults', ['api', 'web'])
  try {
    const refused = await call(m.prefix, 'GET', '/items', undefined, { agent: false }).catch((e: NodeJS.ErrnoException) => e.code)
    t.is(refused, 'ECONNREFUSED')
    // A server that takes the request and never answers, in a process of its own.
    const hang = fixture('../../http/fixtures/hang-server.ts', [m.prefix, 'api', '80'])
    try {
      await hang.line((l) => l.listening === true)
      const pending = call(m.prefix, 'GET', '/slow', undefined, { agent: false }).catch((e: NodeJS.ErrnoException) => e.code)
      await hang.line((l) => l.request === '/slow')
      hang.child.kill('SIGKILL')
      t.is(await pending, 'ECONNRESET')
    } finally {
      await kill(hang)
    }
  } finally {
    m.close()
  }
})

test.serial('code written for node:http runs unchanged but its import, told where by XIO_PREFIX and XIO_SERVICE', async (t) => {
  const m = chainOf('http-env', ['api', 'web'])
  const script = fileURLToPath(new URL('./fixtures/node-style.ts', import.meta.url))
  const start = (service: string, args: string[]) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, XIO_PREFIX: m.prefix, XIO_SERVICE: service } })
    const lines: Record<string, unknown>[] = []
    child.stdout!.on('data', (c: Buffer) => lines.push(...c.toString().trim().split('\n').map((l) => JSON.parse(l))))
    return { child, lines }
  }
  const server = start('api', ['server'])
  try {
    t.true(await until(() => server.lines.some((l) => l.listening)))
    const client = start('web', ['client', 'api'])
    const [code] = (await once(client.child, 'exit')) as [number]
    t.is(code, 0, 'the client leaves by itself once its agent lets go: nothing keeps it alive')
    t.deepEqual(client.lines[0], { answers: ['200 hello /world', '200 hello /again'] })
  } finally {
    server.child.kill('SIGKILL')
    m.close()
  }
})

test.serial('the example pair as a user runs it: xio-chain run, api and web; people reach web over TCP, web reaches api over the rings', async (t) => {
  const prefix = uniquePrefix('http-example')
  const chain = startXioChain(['run', example('chain.json'), '--no-tui', '--prefix', prefix])
  let api: Child | undefined, web: Child | undefined
  try {
    t.true(await until(() => existsSync(`/dev/shm/xio.${prefix}`) && chain.output().includes('running'), 20_000), chain.output())
    api = run('api.ts', prefix)
    web = run('web.ts', prefix, ['0'])
    await api.line((l) => l.listening === 'api:80')
    const port = (await web.line((l) => typeof l.listening === 'number')).listening as number
    const base = `http://127.0.0.1:${port}`
    for (const name of ['pear', 'fig', 'quince']) {
      const r = await fetch(`${base}/items`, { method: 'POST', body: JSON.stringify({ name }) })
      t.is(r.status, 201)
    }
    t.deepEqual(await (await fetch(`${base}/summary`)).json(), { items: 3, names: ['pear', 'fig', 'quince'] })
    await kill(api)
    const down = await fetch(`${base}/summary`)
    t.is(down.status, 502)
    t.true(['ECONNREFUSED', 'ECONNRESET'].includes(((await down.json()) as { error: string }).error))
  } finally {
    if (api) await kill(api)
    if (web) await kill(web)
    chain.kill('SIGTERM')
    await new Promise((r) => (chain.exitCode !== null ? r(null) : chain.once('exit', r)))
  }
  t.false(existsSync(`/dev/shm/xio.${prefix}`), 'the chain removed its region')
})
