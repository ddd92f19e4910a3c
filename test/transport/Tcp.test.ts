/**
 * `TcpLineSource` against real servers on 127.0.0.1: a line cut off by the
 * end of a connection is rejected and counted with its reason, whether the
 * other side closed cleanly (FIN) or reset the connection (RST), and the
 * source reconnects for the next connection.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as net from "node:net"
import type { RejectedLine } from "../../src/domain/RejectedLine.ts"
import { LineSource } from "../../src/transport/LineSource.ts"
import { TcpLineSource } from "../../src/transport/Tcp.ts"
import { textLines } from "../support/lines.ts"

type Close = "FIN" | "RST"

/**
 * A server that gives each connection `payload` and then closes it the `close` way; the
 * connection after the last payload gets a clean end with nothing.
 */
const serveThenClose = (payloads: ReadonlyArray<string>, close: Close) =>
  Effect.acquireRelease(
    Effect.callback<{ server: net.Server; port: number }>((resume) => {
      let n = 0
      const server = net.createServer((socket) => {
        const payload = payloads[n++]
        if (payload === undefined) return void socket.end()
        socket.write(payload, () => {
          // Let the bytes reach the client before the close, so that the cut-off line is really there.
          setTimeout(() => (close === "FIN" ? socket.end() : socket.resetAndDestroy()), 50)
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, port: (server.address() as net.AddressInfo).port })))
    }),
    ({ server }) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/** Reads from the source until `rejectedWanted` rejections have been seen. */
const readUntilRejected = (port: number, rejectedWanted: number) =>
  Effect.gen(function*() {
    const source = yield* LineSource
    const lines: Array<string> = []
    const rejected: Array<RejectedLine> = []
    yield* source.batches(undefined).pipe(
      Stream.takeUntil((batch) => {
        lines.push(...textLines(batch.lines))
        rejected.push(...batch.rejected)
        return rejected.length >= rejectedWanted
      }),
      Stream.runDrain
    )
    return { lines, rejected }
  }).pipe(Effect.provide(TcpLineSource.layer({ host: "127.0.0.1", port, maxLineBytes: 1024 })))

describe("TcpLineSource: a line cut off by the end of a connection", () => {
  for (const close of ["FIN", "RST"] as const) {
    it.live(`is rejected with its reason after a ${close}, and the next connection goes on`, () =>
      Effect.gen(function*() {
        const { port } = yield* serveThenClose(['{"n":1}\n{"n":2}\n{"half', '{"n":3}\n{"cut":'], close)
        const { lines, rejected } = yield* readUntilRejected(port, 2)
        assert.deepStrictEqual(lines, ['{"n":1}', '{"n":2}', '{"n":3}'])
        assert.deepStrictEqual(rejected, [
          { line: '{"half', reason: "connection closed in the middle of a line" },
          { line: '{"cut":', reason: "connection closed in the middle of a line" }
        ])
      }).pipe(Effect.scoped, Effect.timeout("20 seconds")))
  }

  it.live("a connection that ends after a whole line rejects nothing", () =>
    Effect.gen(function*() {
      const { port } = yield* serveThenClose(['{"n":1}\n', '{"n":2}\n{"x'], "FIN")
      const { lines, rejected } = yield* readUntilRejected(port, 1)
      assert.deepStrictEqual(lines, ['{"n":1}', '{"n":2}'])
      assert.deepStrictEqual(rejected, [{ line: '{"x', reason: "connection closed in the middle of a line" }])
    }).pipe(Effect.scoped, Effect.timeout("20 seconds")))
})
