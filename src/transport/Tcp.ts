/**
 * Local mode over loopback TCP.
 *
 * `TcpLineSource` dials the generator (or any `nc -lk`), and redials with
 * capped exponential backoff whenever the server is not up yet or goes away;
 * a TCP stream cannot be replayed, so its position is always `{}`.
 *
 * `TcpLineSink` is the generator's built-in server. It is ready once its
 * first client has connected; from then on every client gets every line sent
 * after it connected, whole lines in order, and slow clients are waited for
 * instead of losing lines. While no client is connected it waits for one
 * rather than writing into the void. At the end every client is ended after
 * its last line, and the server is done once all of them have closed; after a
 * stop (a signal), a client that still has not read its lines 5 s later is cut
 * off, so that Ctrl-C never hangs on it.
 */
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as net from "node:net"
import { linesPayload } from "../io/LinesPayload.ts"
import { reconnectSchedule } from "./Backoff.ts"
import { framedLines } from "./LineSplitter.ts"
import { LineSink, SinkError } from "./LineSink.ts"
import { LineSource, SourceError } from "./LineSource.ts"

export const TcpLineSource = {
  layer: (options: { readonly host: string; readonly port: number; readonly maxLineBytes: number }) => {
    const address = `tcp://${options.host}:${options.port}`
    const oneConnection = framedLines(
      NodeStream.fromReadable<Uint8Array, SourceError>({
        evaluate: () => net.connect({ host: options.host, port: options.port, noDelay: true }),
        onError: (cause) => new SourceError({ message: `cannot read from ${address}: ${socketProblem(cause)}`, cause })
      }),
      options.maxLineBytes,
      () => ({}),
      { lastLine: "reject" }
    ).pipe(
      // A clean close is still the end of this connection only: the analyzer keeps listening.
      Stream.concat(Stream.fail(new SourceError({ message: `${address} closed the connection` }))),
      Stream.tapError((error) => Console.error(`loglens: ${error.message}; reconnecting…`))
    )
    return Layer.succeed(LineSource, {
      description: address,
      identity: address,
      live: true,
      batches: () => oneConnection.pipe(Stream.retry(reconnectSchedule)),
      commit: () => Effect.void
    })
  }
}

const socketProblem = (cause: unknown): string => {
  const code = (cause as { code?: string } | undefined)?.code
  switch (code) {
    case "ECONNREFUSED":
      return "nothing is listening there yet (connection refused)"
    case "ECONNRESET":
      return "the connection was reset by the other side"
    case "ENOTFOUND":
      return "the host name does not resolve"
    case "ETIMEDOUT":
      return "the connection timed out"
    default:
      return cause instanceof Error ? cause.message : String(cause)
  }
}

/** At --rate 0, batches of 1024 lines: a loop turn every 8 of them is every few milliseconds. */
const TURN_EVERY = 8
const HIGH_WATER = 4 * 1024 * 1024
// Clients started together with the first one (already queued by the kernel, or about to be) all
// get the first line: the stream starts this long after the first client.
const START_GRACE = Duration.millis(20)
// After a stop, how long clients get to take the lines already sent before they are cut off.
const STOP_GRACE = Duration.seconds(5)

export const TcpLineSink = {
  /** Serves lines on `host:port`; `onListening` learns the bound port (useful with port 0). */
  layer: (options: { readonly host: string; readonly port: number; readonly onListening?: (port: number) => void }) =>
    Layer.effect(
      LineSink,
      Effect.gen(function*() {
        // Sockets are added between two writes (connection callbacks never run inside one), so a
        // client's stream starts at a line boundary with the next batch.
        const clients = new Set<net.Socket>()
        let served = 0
        let clientArrived: (() => void) | undefined
        const server = net.createServer({ noDelay: true }, (socket) => {
          served++
          socket.on("error", () => socket.destroy())
          socket.on("close", () => clients.delete(socket))
          clients.add(socket)
          clientArrived?.()
        })
        const addressOf = (port: number) => `tcp://${options.host}:${port}`
        const port = yield* Effect.acquireRelease(
          Effect.callback<number, SinkError>((resume) => {
            server.once("error", (cause) =>
              resume(
                Effect.fail(
                  new SinkError({ message: `cannot listen on ${addressOf(options.port)}: ${(cause as Error).message}`, cause })
                )
              ))
            server.listen(options.port, options.host, () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
          }),
          (port, exit) =>
            Effect.andThen(
              // After --count, every client gets its lines however long it takes; after a stop (a
              // signal) or a failure, a client that does not read is not waited for forever.
              Exit.isSuccess(exit) ? endEveryClient(server, clients) : endEveryClientWithin(server, clients, STOP_GRACE),
              Console.error(`loglens: ${addressOf(port)}: ${servedWords(served)}`)
            )
        )
        options.onListening?.(port)
        const description = addressOf(port)
        yield* Console.error(`loglens: serving log lines on ${description}; waiting for a client…`)

        const firstClient = Effect.callback<void>((resume) => {
          if (clients.size > 0) return resume(Effect.void)
          clientArrived = () => {
            clientArrived = undefined
            resume(Effect.void)
          }
        })
        // Every TURN_EVERY-th batch resumes from the event loop (see sendToAll): prompt enough for
        // clients that connect, without paying a loop turn for each batch.
        let batches = 0
        return LineSink.of({
          description,
          ready: Effect.andThen(firstClient, Effect.sleep(START_GRACE)),
          write: (lines) =>
            Effect.suspend(() => {
              const payload = linesPayload(lines)
              const send = sendToAll(clients, payload, ++batches % TURN_EVERY === 0)
              // Nobody connected (they all left): wait for the next client rather than write into the void.
              return clients.size === 0 ? Effect.andThen(firstClient, send) : send
            })
        })
      })
    )
}

const servedWords = (served: number): string =>
  served === 0
    ? "no client connected"
    : served === 1
    ? "1 client served to its last line"
    : `${served.toLocaleString("en-US")} clients served, each to its last line`

/**
 * Keeps up to HIGH_WATER bytes queued per client, so the next batch is generated while the
 * kernel sends this one; beyond that, waits for the slowest client to drain.
 */
const sendToAll = (clients: ReadonlySet<net.Socket>, payload: string, turn: boolean) =>
  Effect.callback<void>((resume) => {
    let waiting = 0
    const drained = () => {
      if (--waiting === 0) resume(Effect.void)
    }
    for (const socket of clients) {
      if (socket.destroyed) continue
      socket.write(payload)
      if (socket.writableLength > HIGH_WATER) {
        waiting++
        const done = () => {
          socket.off("drain", done)
          socket.off("close", done)
          drained()
        }
        socket.on("drain", done)
        socket.on("close", done)
      }
    }
    // `turn`: resumed from the event loop, not at once. At --rate 0 the generator would otherwise
    // keep the loop busy, and clients connecting meanwhile would only be accepted (and start) much later.
    if (waiting === 0) {
      if (turn) setImmediate(() => resume(Effect.void))
      else resume(Effect.void)
    }
  })

/**
 * The graceful end: accept the connections the kernel has already queued (they would be reset
 * otherwise), stop listening, end every client after its last line and wait until each has
 * closed, so that the process exits only once every client has its lines.
 */
const endEveryClient = (server: net.Server, clients: ReadonlySet<net.Socket>) =>
  Effect.callback<void>((resume) => {
    setImmediate(() => {
      server.close(() => resume(Effect.void))
      for (const socket of clients) socket.end()
    })
  })

/** `endEveryClient`, but clients still open after `grace` are closed, and the fact is said. */
const endEveryClientWithin = (server: net.Server, clients: ReadonlySet<net.Socket>, grace: Duration.Duration) =>
  endEveryClient(server, clients).pipe(
    Effect.timeoutOption(grace),
    Effect.flatMap((ended) => {
      if (Option.isSome(ended)) return Effect.void
      const left = [...clients]
      for (const socket of left) socket.destroy()
      return Console.error(
        `loglens: ${left.length === 1 ? "1 client" : `${left.length} clients`} had not read the lines already sent ` +
          `${Duration.format(grace)} after the stop; closed without them`
      )
    })
  )
