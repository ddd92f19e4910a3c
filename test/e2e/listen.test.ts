/**
 * `generate --listen`, the real CLI, with many clients on real sockets on
 * 127.0.0.1. The rule (README, "`generate --listen`"): every client gets every
 * line emitted from the moment it connected, as whole lines in order, so each
 * client's lines are a contiguous suffix of the whole stream ending at its last
 * line; the server ends every client gracefully and exits only once they have
 * their lines; and the rate clock starts with the first client, with no burst.
 */
import { describe, expect, it } from "vitest"
import * as net from "node:net"
import { start } from "./cli.ts"

interface Client {
  /** When the TCP handshake completed (performance.now()). */
  readonly connectedAt: number
  /** Complete lines, in arrival order, with the arrival time of each. */
  readonly lines: Array<string>
  readonly arrivals: Array<number>
  /** Bytes after the last newline when the stream ended: a partial line. */
  readonly tail: () => string
  /** Resolves once the server ended the stream (FIN) or the socket failed (reset). */
  readonly closed: Promise<{ readonly ended: boolean; readonly error: string | undefined }>
}

const connect = (port: number): Promise<Client> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const lines: Array<string> = []
    const arrivals: Array<number> = []
    let partial = ""
    let ended = false
    let error: string | undefined
    const closed = new Promise<{ ended: boolean; error: string | undefined }>((done) =>
      socket.on("close", () => done({ ended, error }))
    )
    socket.setEncoding("utf8")
    socket.on("data", (text: string) => {
      const now = performance.now()
      const parts = (partial + text).split("\n")
      partial = parts.pop()!
      for (const line of parts) {
        lines.push(line)
        arrivals.push(now)
      }
    })
    socket.on("end", () => {
      ended = true
    })
    socket.on("error", (e) => {
      error = (e as NodeJS.ErrnoException).code ?? e.message
    })
    socket.once("connect", () => resolve({ connectedAt: performance.now(), lines, arrivals, tail: () => partial, closed }))
    socket.once("error", reject)
  })

const serve = async (args: ReadonlyArray<string>) => {
  const generator = start(["generate", "--listen", "0", "--seed", "listen", ...args])
  const port = Number((await generator.waitFor(/tcp:\/\/127\.0\.0\.1:(\d+)/))[1])
  return { generator, port }
}

/** Every client ended cleanly with whole lines that are a contiguous suffix of `all`, ending at its end. */
const expectSuffixes = async (clients: ReadonlyArray<Client>, all: ReadonlyArray<string>) => {
  for (const [i, client] of clients.entries()) {
    const closed = await client.closed
    expect(closed, `client ${i}`).toEqual({ ended: true, error: undefined })
    expect(client.tail(), `client ${i} got a partial line`).toBe("")
    const offset = all.length - client.lines.length
    expect(offset, `client ${i} got more lines than were sent`).toBeGreaterThanOrEqual(0)
    // Compared line by line would be slow to report; the first mismatch is enough.
    const mismatch = client.lines.findIndex((line, j) => line !== all[offset + j])
    expect(mismatch, `client ${i}: line ${mismatch} is not line ${offset + mismatch} of the stream`).toBe(-1)
  }
}

describe("generate --listen with many clients", () => {
  it("20 clients connecting one after another to --rate 0 --count 100000 each get every line from their connection on", async () => {
    const N = 100_000
    const { generator, port } = await serve(["--rate", "0", "--count", String(N)])
    const clients: Array<Client> = []
    for (let i = 0; i < 20; i++) clients.push(await connect(port))
    const done = await generator.done
    expect(done.code, done.stderr).toBe(0)

    const all = clients[0]!.lines
    expect(all).toHaveLength(N)
    for (const line of all.slice(0, 3)) expect(JSON.parse(line)).toHaveProperty("status")
    await expectSuffixes(clients, all)
    // A later connection never gets more than an earlier one.
    for (let i = 1; i < clients.length; i++) {
      expect(clients[i]!.lines.length, `client ${i}`).toBeLessThanOrEqual(clients[i - 1]!.lines.length)
    }
    // They connected within milliseconds of each other, long before the end of the stream.
    expect(clients[19]!.lines.length).toBeGreaterThan(0)
  })

  it("clients that start together and clients that join while it runs: all counted, each from its connection on", async () => {
    const N = 6000
    const RATE = 2000
    const { generator, port } = await serve(["--rate", String(RATE), "--count", String(N)])
    // Five clients started together, before the first line: they all get every line.
    const together = await Promise.all([0, 1, 2, 3, 4].map(() => connect(port)))
    const joiners: Array<Client> = []
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 150))
      joiners.push(await connect(port))
    }
    const done = await generator.done
    expect(done.code, done.stderr).toBe(0)
    expect(done.stderr).toMatch(/sent 6,000 lines to tcp:\/\/127\.0\.0\.1:\d+ in /)
    expect(done.stderr).toMatch(/20 clients served, each to its last line/)

    const all = together[0]!.lines
    expect(all).toHaveLength(N)
    for (const client of together) expect(client.lines).toEqual(all)
    await expectSuffixes([...together, ...joiners], all)
    // A joiner gets the lines due after it connected: at 2000 lines/s, those of the time left,
    // within 0.5 s either way (the generator is another process; its clock is not ours).
    const first = together[0]!.arrivals[0]!
    const lastArrival = all.length > 0 ? together[0]!.arrivals[N - 1]! : first
    for (const [i, client] of joiners.entries()) {
      const expected = ((lastArrival - client.connectedAt) / 1000) * RATE
      expect(client.lines.length, `joiner ${i}`).toBeGreaterThan(expected - RATE * 0.5)
      expect(client.lines.length, `joiner ${i}`).toBeLessThan(expected + RATE * 0.5)
    }
  })
})

describe("generate --listen: a stop", () => {
  it("SIGINT with a client that never reads: the reading client ends cleanly, the other is cut off after 5 s, exit 0", async () => {
    const { generator, port } = await serve(["--rate", "0"])
    const reader = await connect(port)
    const stuck = net.connect({ host: "127.0.0.1", port })
    stuck.pause()
    stuck.on("error", () => {})
    // Let the stuck client's buffers fill, so that the generator waits for it.
    await new Promise((r) => setTimeout(r, 1500))
    const stoppedAt = performance.now()
    generator.child.kill("SIGINT")
    const done = await generator.done
    const tookMs = performance.now() - stoppedAt
    stuck.destroy()
    expect(done.code, done.stderr).toBe(0)
    expect(tookMs).toBeGreaterThan(4000)
    expect(tookMs).toBeLessThan(15_000)
    expect(done.stderr).toMatch(/1 client had not read the lines already sent 5s after the stop; closed without them/)
    expect(done.stderr).toMatch(/sent [\d,]+ lines to tcp:/)
    expect(await reader.closed).toEqual({ ended: true, error: undefined })
    expect(reader.tail()).toBe("")
    expect(reader.lines.length).toBeGreaterThan(0)
    for (const line of [reader.lines[0]!, reader.lines.at(-1)!]) expect(JSON.parse(line)).toHaveProperty("status")
  })
})

describe("generate --listen --rate: the clock starts with the first client", () => {
  it("--rate 100 with a first client after 2 s and a second after 3 s: both see lines spread evenly, no burst", async () => {
    const { generator, port } = await serve(["--rate", "100", "--count", "250"])
    await new Promise((r) => setTimeout(r, 2000))
    const first = await connect(port)
    await new Promise((r) => setTimeout(r, 1000))
    const second = await connect(port)
    const done = await generator.done
    expect(done.code, done.stderr).toBe(0)
    await expectSuffixes([first, second], first.lines)
    expect(first.lines).toHaveLength(250)

    for (const [name, client] of [["first", first], ["second", second]] as const) {
      const t0 = client.connectedAt
      // 100 lines/s: about 10 per 100 ms. The burst of the defect put hundreds in the first 100 ms.
      const firstTenth = client.arrivals.filter((t) => t - t0 < 100).length
      expect(firstTenth, `${name}: lines in its first 100 ms`).toBeLessThanOrEqual(20)
      // Every half second after the first holds about 50 lines.
      const span = client.arrivals[client.arrivals.length - 1]! - t0
      for (let from = 0; from + 500 <= span - 250; from += 500) {
        const inBucket = client.arrivals.filter((t) => t - t0 >= from && t - t0 < from + 500).length
        expect(inBucket, `${name}: lines from ${from} to ${from + 500} ms`).toBeGreaterThanOrEqual(30)
        expect(inBucket, `${name}: lines from ${from} to ${from + 500} ms`).toBeLessThanOrEqual(70)
      }
    }
    // 250 lines at 100/s take 2.5 s from the first client's connection, not from the server's start.
    const span = first.arrivals[249]! - first.connectedAt
    expect(span).toBeGreaterThan(2200)
    expect(span).toBeLessThan(3500)
  })
})
