// The web service: serves people over plain TCP (Node's own http) and asks the api service for
// what it shows, over the chain's rings (xio-chain's http, keep-alive connections from its
// agent). Two HTTP stacks in one process, the same API for both.
//   XIO_PREFIX=http-services node --import tsx examples/http-services/web.ts [tcp port, default 8080]
//
//   GET  /summary   how many items api holds, and their names
//   GET  /items     api's items, passed through
//   POST /items     passed through to api
import nodeHttp from 'node:http'
import * as http from 'xio-chain/http'

/** A request to api over the rings, from this process's own service (web). */
function api(method: string, path: string, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: 'api', port: 80, method, path, localAddress: 'web', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

const server = nodeHttp.createServer(async (req, res) => {
  try {
    if (req.url === '/summary' && req.method === 'GET') {
      const items = JSON.parse((await api('GET', '/items')).body.toString()) as { name?: string }[]
      const text = JSON.stringify({ items: items.length, names: items.map((i) => i.name ?? null) })
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(text)
    }
    if (req.url === '/items') {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      const answer = await api(req.method ?? 'GET', '/items', req.method === 'POST' ? Buffer.concat(chunks) : undefined)
      return void res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body)
    }
    res.writeHead(404).end()
  } catch (e) {
    // api unreachable (ECONNREFUSED: not running) or gone mid-request (ECONNRESET)
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (e as NodeJS.ErrnoException).code ?? String(e) }))
  }
})

const port = Number(process.argv[2] ?? 8080)
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ listening: (server.address() as { port: number }).port })))
process.on('SIGTERM', () => {
  http.globalAgent.destroy()
  server.close(() => process.exit(0))
})
