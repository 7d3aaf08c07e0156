// Running the real xio-chain command, as a user would.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../../', import.meta.url))
export const bin = fileURLToPath(new URL('../../bin/xio-chain.js', import.meta.url))

export interface Result {
  code: number
  stdout: string
  stderr: string
}

export function xioChain(args: string[], timeoutMs = 60_000, cwd = root): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, timeout: timeoutMs }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

export function startXioChain(args: string[]): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (c: Buffer) => (output += c))
  child.stderr!.on('data', (c: Buffer) => (output += c))
  return Object.assign(child, { output: () => output })
}

/** tshark fields for every frame, with checksum validation switched on. */
export function tsharkFields(file: string, fields: string[]): Promise<string[][]> {
  const args = ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields']
  for (const f of fields) args.push('-e', f)
  return new Promise((resolve, reject) =>
    execFile('tshark', args, (error, stdout) => (error ? reject(error) : resolve(stdout.trim().split('\n').filter(Boolean).map((l) => l.split('\t'))))),
  )
}
