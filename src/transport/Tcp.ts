/**
 * Local mode over loopback TCP.
 *
 * `TcpLineSource` dials the generator (or any `nc -lk`), and redials with
 * capped exponential backoff whenever the server is not up yet or goes away;
 * a TCP stream cannot be replayed, so its position is always `{}`.
 *
 * `TcpLineSink` is the generator's built-in server. It waits for the first
 * client, then sends every line to every connected client, waiting for slow
 * clients to drain instead of dropping lines; while no client is connected
 * it waits for one rather than writing into the void.
 */
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as net from "node:net"
import { linesPayload } from "../io/LinesPayload.ts"
import { framedLines } from "./LineSplitter.ts"
import { LineSink, SinkError } from "./LineSink.ts"
import { LineSource, SourceError } from "./LineSource.ts"

/** Redial delays: 250 ms, doubling, at most 5 s. */
export const reconnectSchedule = Schedule.exponential("250 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5))))
)

export const TcpLineSource = {
  layer: (options: { readonly host: string; readonly port: number; readonly maxLineBytes: number }) => {
    const address = `tcp://${options.host}:${options.port}`
    const oneConnection = framedLines(
      NodeStream.fromReadable<Uint8Array, SourceError>({
        evaluate: () => net.connect({ host: options.host, port: options.port, noDelay: true }),
        onError: (cause) => new SourceError({ message: `cannot read from ${address}: ${socketProblem(cause)}`, cause })
      }),
      options.maxLineBytes,
      () => ({})
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

const HIGH_WATER = 4 * 1024 * 1024

export const TcpLineSink = {
  /** Serves lines on `host:port`; `onListening` learns the bound port (useful with port 0). */
  layer: (options: { readonly host: string; readonly port: number; readonly onListening?: (port: number) => void }) =>
    Layer.effect(
      LineSink,
      Effect.gen(function*() {
        const clients = new Set<net.Socket>()
        let clientArrived: (() => void) | undefined
        const server = net.createServer({ noDelay: true }, (socket) => {
          socket.on("error", () => socket.destroy())
          socket.on("close", () => clients.delete(socket))
          clients.add(socket)
          clientArrived?.()
        })
        const address = `tcp://${options.host}:${options.port}`
        const port = yield* Effect.acquireRelease(
          Effect.callback<number, SinkError>((resume) => {
            server.once("error", (cause) =>
              resume(Effect.fail(new SinkError({ message: `cannot listen on ${address}: ${(cause as Error).message}`, cause }))))
            server.listen(options.port, options.host, () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
          }),
          () =>
            Effect.callback<void>((resume) => {
              // End every client gracefully so the last lines are delivered, then stop listening.
              for (const socket of clients) socket.end()
              server.close(() => resume(Effect.void))
            })
        )
        options.onListening?.(port)
        yield* Console.error(`loglens: serving log lines on tcp://${options.host}:${port}; waiting for a client…`)

        const waitForClient = Effect.callback<void>((resume) => {
          if (clients.size > 0) return resume(Effect.void)
          clientArrived = () => {
            clientArrived = undefined
            resume(Effect.void)
          }
        })
        // Keep up to HIGH_WATER bytes queued per client, so the next batch is generated while
        // the kernel sends this one; beyond that, wait for the slowest client to drain.
        const sendToAll = (payload: string) =>
          Effect.callback<void>((resume) => {
            let waiting = 0
            const drained = () => {
              if (--waiting === 0) resume(Effect.void)
            }
            for (const socket of clients) {
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
            if (waiting === 0) resume(Effect.void)
          })
        return LineSink.of({
          description: `tcp://${options.host}:${port}`,
          write: (lines) =>
            Effect.suspend(() => {
              const payload = linesPayload(lines)
              return clients.size === 0 ? Effect.andThen(waitForClient, sendToAll(payload)) : sendToAll(payload)
            })
        })
      })
    )
}
