#!/usr/bin/env node
/**
 * The `loglens` command line: `generate` and `analyze`.
 *
 * Each command turns its flags into settings, picks the layers for its mode
 * (local: stdout / TCP / file; production: Kafka) and runs the same
 * pipeline. Choosing a mode is choosing layers, nothing else.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Command, Flag } from "effect/cli"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { runAnalyzer } from "./analyzer/Analyzer.ts"
import {
  joinStatusDistributionWords,
  parseBrokers,
  parseDuration,
  parseStatusDistribution,
  type Parsed
} from "./domain/Options.ts"
import { describeFormats, ENCODABLE_FORMAT_NAMES, FORMAT_NAMES } from "./domain/formats/Formats.ts"
import { runGenerator } from "./generator/Generator.ts"
import { AlertPublisher } from "./sinks/AlertPublisher.ts"
import { CheckpointStore } from "./sinks/CheckpointStore.ts"
import { ErrorStore, RejectedStore, WindowStore } from "./sinks/Stores.ts"
import { FileLineSource, StdoutLineSink } from "./transport/File.ts"
import { KafkaAlertPublisher, KafkaLineSink, KafkaLineSource, kafkaSettingsFromEnv } from "./transport/Kafka.ts"
import { resetConsumerGroup } from "./transport/KafkaClient.ts"
import { TcpLineSink, TcpLineSource } from "./transport/Tcp.ts"

export class OptionError extends Schema.TaggedError<OptionError>()("OptionError", {
  message: Schema.String
}) {}

const valueOf = <A>(parsed: Parsed<A>): Effect.Effect<A, OptionError> =>
  parsed.ok ? Effect.succeed(parsed.value) : Effect.fail(new OptionError({ message: parsed.message }))

const requireThat = (ok: boolean, message: string): Effect.Effect<void, OptionError> =>
  ok ? Effect.void : Effect.fail(new OptionError({ message }))

// -- flags shared by both commands ---------------------------------------------

const mode = Flag.Literals("mode", ["local", "production"]).pipe(
  Flag.withDescription("local: stdout/TCP/files. production: Kafka topics. (default: local)"),
  Flag.withDefault("local")
)
const formatFlag = (names: typeof FORMAT_NAMES) =>
  Flag.Literals("format", names).pipe(
    Flag.withDescription(`Line format. ${describeFormats(names)}. (default: json)`),
    Flag.withDefault("json" as const)
  )
const topic = Flag.String("topic").pipe(
  Flag.withDescription("Production mode: the Kafka topic of log lines. (default: http-logs)"),
  Flag.withDefault("http-logs")
)
const kafkaBroker = Flag.String("kafka-broker").pipe(
  Flag.withDescription("Production mode: brokers as host:port[,host:port] (default: $KAFKA_BROKERS or localhost:9092)."),
  Flag.optional
)
const partitions = Flag.Int("partitions").pipe(
  Flag.withDescription("Production mode: partitions for topics that loglens creates. (default: 3)"),
  Flag.withDefault(3)
)

const brokersFrom = (flag: Option.Option<string>) =>
  valueOf(parseBrokers(Option.getOrElse(flag, () => process.env["KAFKA_BROKERS"] ?? "localhost:9092")))

// -- generate ------------------------------------------------------------------

const generate = Command.make(
  "generate",
  {
    mode,
    format: formatFlag(ENCODABLE_FORMAT_NAMES),
    topic,
    kafkaBroker,
    partitions,
    rate: Flag.String("rate").pipe(
      Flag.withDescription("Lines per second, evenly spaced; 0 means as fast as possible. (default: 1)"),
      Flag.withDefault("1")
    ),
    count: Flag.Int("count").pipe(Flag.withDescription("Stop after this many lines (default: run until stopped)."), Flag.optional),
    urls: Flag.Int("urls").pipe(Flag.withDescription("Number of distinct URLs, /resource/1 to /resource/N. (default: 10)"), Flag.withDefault(10)),
    statusDist: Flag.String("status-dist").pipe(
      Flag.withDescription("Percentages of status 200, 404 and 500, adding up to 100: --status-dist 90 5 5. (default: 90 5 5)"),
      Flag.withDefault("90 5 5")
    ),
    seed: Flag.String("seed").pipe(Flag.withDescription("Same seed, same records (timestamps aside)."), Flag.optional),
    listen: Flag.Int("listen").pipe(
      Flag.withDescription("Serve lines over TCP on this port (waits for the first client) instead of stdout."),
      Flag.optional
    ),
    host: Flag.String("host").pipe(Flag.withDescription("Address for --listen. (default: 127.0.0.1)"), Flag.withDefault("127.0.0.1"))
  },
  Effect.fn("generate")(function*(flags) {
    const rate = Number(flags.rate)
    yield* requireThat(
      flags.rate.trim() !== "" && Number.isFinite(rate) && rate >= 0,
      `--rate expects lines per second, a number ≥ 0 (0 = as fast as possible), got "${flags.rate}"`
    )
    const count = Option.getOrUndefined(flags.count)
    yield* requireThat(count === undefined || count >= 0, `--count expects a number of lines ≥ 0, got ${count}`)
    yield* requireThat(flags.urls >= 1, `--urls expects at least 1, got ${flags.urls}`)
    yield* requireThat(flags.partitions >= 1, `--partitions expects at least 1, got ${flags.partitions}`)
    const statusDistribution = yield* valueOf(parseStatusDistribution(flags.statusDist))
    const listen = Option.getOrUndefined(flags.listen)
    yield* requireThat(listen === undefined || (listen >= 0 && listen <= 65535), `--listen expects a TCP port, got ${listen}`)
    const seed = Option.getOrElse(flags.seed, () => String(Math.random()))

    const sink = flags.mode === "production"
      ? KafkaLineSink.layer({
        settings: kafkaSettingsFromEnv(yield* brokersFrom(flags.kafkaBroker)),
        topic: flags.topic,
        partitions: flags.partitions
      })
      : listen !== undefined
      ? TcpLineSink.layer({ host: flags.host, port: listen })
      : StdoutLineSink.layer

    yield* runGenerator({ format: flags.format, urls: flags.urls, statusDistribution, seed, rate, count }).pipe(
      Effect.provide(sink)
    )
  })
).pipe(Command.withDescription("Emit synthetic HTTP access logs to stdout, a TCP server, or Kafka."))

// -- analyze -------------------------------------------------------------------

const analyze = Command.make(
  "analyze",
  {
    mode,
    format: formatFlag(FORMAT_NAMES),
    topic,
    kafkaBroker,
    partitions,
    input: Flag.String("input").pipe(
      Flag.withDescription("Replay a saved log file (or - for stdin) instead of reading a live stream; exits at its end."),
      Flag.optional
    ),
    host: Flag.String("host").pipe(Flag.withDescription("Local mode: the TCP server to read from. (default: localhost)"), Flag.withDefault("localhost")),
    port: Flag.Int("port").pipe(Flag.withDescription("Local mode: its port. (default: 9999)"), Flag.withDefault(9999)),
    window: Flag.String("window").pipe(Flag.withDescription("Tumbling event-time window size. (default: 30s)"), Flag.withDefault("30s")),
    watermark: Flag.String("watermark").pipe(
      Flag.withDescription("Allowed lateness: the watermark trails the newest event time by this much. (default: 10s)"),
      Flag.withDefault("10s")
    ),
    idleTimeout: Flag.String("idle-timeout").pipe(
      Flag.withDescription("Live input quiet for this long closes every open window (default: the window size)."),
      Flag.optional
    ),
    threshold: Flag.Int("threshold").pipe(
      Flag.withDescription("Alert when a (window, status) has more errors than this. (default: 100)"),
      Flag.withDefault(100)
    ),
    trigger: Flag.String("trigger").pipe(Flag.withDescription("How often the console table is printed. (default: 30s)"), Flag.withDefault("30s")),
    commitInterval: Flag.String("commit-interval").pipe(
      Flag.withDescription("Longest time between two durable commits of outputs and checkpoint. (default: 1s)"),
      Flag.withDefault("1s")
    ),
    output: Flag.String("output").pipe(Flag.withDescription("Output folder. (default: ./output)"), Flag.withDefault("./output")),
    checkpoint: Flag.String("checkpoint").pipe(Flag.withDescription("Checkpoint folder. (default: ./checkpoint)"), Flag.withDefault("./checkpoint")),
    clean: Flag.Boolean("clean").pipe(
      Flag.withDescription("Start over: empty the output and checkpoint folders (production: also reset the consumer group offsets)."),
      Flag.withDefault(false)
    ),
    maxLineBytes: Flag.Int("max-line-bytes").pipe(
      Flag.withDescription("Longer lines are rejected without being held in memory. (default: 1048576)"),
      Flag.withDefault(1024 * 1024)
    ),
    maxFuture: Flag.String("max-future").pipe(
      Flag.withDescription("Reject records dated further than this ahead of the clock. (default: 1h)"),
      Flag.withDefault("1h")
    ),
    groupId: Flag.String("group-id").pipe(
      Flag.withDescription("Production mode: Kafka consumer group. (default: loglens-analyzer)"),
      Flag.withDefault("loglens-analyzer")
    ),
    startingOffsets: Flag.Literals("starting-offsets", ["earliest", "latest"]).pipe(
      Flag.withDescription("Production mode: where a group with no committed offsets starts. (default: earliest)"),
      Flag.withDefault("earliest")
    ),
    alertsTopic: Flag.String("alerts-topic").pipe(
      Flag.withDescription("Production mode: topic that receives alerts. (default: alerts)"),
      Flag.withDefault("alerts")
    )
  },
  Effect.fn("analyze")(function*(flags) {
    const windowMs = yield* valueOf(parseDuration("--window", flags.window))
    const watermarkMs = yield* valueOf(parseDuration("--watermark", flags.watermark))
    const idleTimeoutMs = Option.isSome(flags.idleTimeout)
      ? yield* valueOf(parseDuration("--idle-timeout", flags.idleTimeout.value))
      : windowMs
    const triggerMs = yield* valueOf(parseDuration("--trigger", flags.trigger))
    const commitIntervalMs = yield* valueOf(parseDuration("--commit-interval", flags.commitInterval))
    const maxFutureMs = yield* valueOf(parseDuration("--max-future", flags.maxFuture))
    yield* requireThat(windowMs >= 1, `--window must be at least 1ms, got "${flags.window}"`)
    yield* requireThat(triggerMs >= 1 && commitIntervalMs >= 1, `--trigger and --commit-interval must be at least 1ms`)
    yield* requireThat(flags.threshold >= 0, `--threshold expects a number of errors ≥ 0, got ${flags.threshold}`)
    yield* requireThat(flags.maxLineBytes >= 64, `--max-line-bytes must be at least 64, got ${flags.maxLineBytes}`)
    yield* requireThat(flags.port >= 1 && flags.port <= 65535, `--port expects a TCP port, got ${flags.port}`)
    yield* requireThat(flags.partitions >= 1, `--partitions expects at least 1, got ${flags.partitions}`)
    const input = Option.getOrUndefined(flags.input)
    yield* requireThat(
      !(flags.mode === "production" && input !== undefined),
      "--input replays a file in local mode; leave out --mode production to use it"
    )
    const kafkaSettings = flags.mode === "production"
      ? kafkaSettingsFromEnv(yield* brokersFrom(flags.kafkaBroker))
      : undefined
    if (flags.clean) {
      yield* clean(flags.output, flags.checkpoint)
      if (kafkaSettings !== undefined) yield* resetConsumerGroup(kafkaSettings, flags.groupId)
    }

    const sinks = Layer.mergeAll(
      ErrorStore.layerFile(path.join(flags.output, "errors")),
      WindowStore.layerFile(path.join(flags.output, "windows")),
      RejectedStore.layerFile(path.join(flags.output, "rejected")),
      CheckpointStore.layerFile(flags.checkpoint)
    )
    let transport
    if (kafkaSettings !== undefined) {
      transport = Layer.mergeAll(
        KafkaLineSource.layer({
          settings: kafkaSettings,
          topic: flags.topic,
          groupId: flags.groupId,
          startingOffsets: flags.startingOffsets,
          partitions: flags.partitions,
          maxLineBytes: flags.maxLineBytes
        }),
        KafkaAlertPublisher.layer({
          settings: kafkaSettings,
          topic: flags.alertsTopic,
          groupId: flags.groupId,
          sourceTopic: flags.topic
        })
      )
    } else {
      transport = Layer.mergeAll(
        input !== undefined
          ? FileLineSource.layer({ file: input, maxLineBytes: flags.maxLineBytes })
          : TcpLineSource.layer({ host: flags.host, port: flags.port, maxLineBytes: flags.maxLineBytes }),
        AlertPublisher.layerFile(path.join(flags.output, "alerts"))
      )
    }

    yield* runAnalyzer({
      analysis: { format: flags.format, windowMs, watermarkMs, threshold: flags.threshold, idleTimeoutMs, maxFutureMs },
      triggerMs,
      commitIntervalMs,
      checkpointSettings: {
        format: flags.format,
        window: `${windowMs}ms`,
        watermark: `${watermarkMs}ms`,
        threshold: flags.threshold
      }
    }).pipe(Effect.provide(Layer.mergeAll(sinks, transport)))
  })
).pipe(Command.withDescription(
  "Read a live log stream (TCP or Kafka) or replay a file, keep the errors (status >= 400), " +
    "count them per event-time window and status, and alert above a threshold."
))

const OUTPUT_FOLDERS = ["errors", "windows", "alerts", "rejected"]

/** `--clean`: only loglens's own folders and files, never whatever else lives there. */
const clean = (output: string, checkpoint: string) =>
  Effect.tryPromise({
    try: async () => {
      for (const folder of OUTPUT_FOLDERS) await fs.rm(path.join(output, folder), { recursive: true, force: true })
      await fs.rm(path.join(checkpoint, "checkpoint.json"), { force: true })
    },
    catch: (cause) => new OptionError({ message: `--clean could not empty ${output} and ${checkpoint}: ${String(cause)}` })
  })

const loglens = Command.make("loglens").pipe(
  Command.withDescription("Real-time HTTP error monitor: a log generator and a streaming error analyzer."),
  Command.withSubcommands([generate, analyze])
)

/** Typed failures are printed as one plain line; the CLI library prints its own parse errors. */
const describeFailure = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && "message" in error &&
    !String((error as { _tag: string })._tag).startsWith("~effect/cli")
    ? String((error as { message: unknown }).message)
    : undefined

Command.runWith(loglens, { version: "0.1.0" })(joinStatusDistributionWords(process.argv.slice(2))).pipe(
  Effect.tapError((error) => {
    const message = describeFailure(error)
    return message === undefined ? Effect.void : Console.error(`loglens: ${message}`)
  }),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // SIGINT / SIGTERM end the programs gracefully (windows closed, files flushed), so they exit 0.
    teardown: (exit, onExit) =>
      onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
  })
)
