#!/usr/bin/env -S node --disable-warning=TimeoutNegativeWarning
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
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CliError, CliOutput, Command, Flag } from "effect/cli"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { runAnalyzer } from "./analyzer/Analyzer.ts"
import { runProduction } from "./analyzer/Production.ts"
import * as Flags from "./cli/Flags.ts"
import { exitCode, OptionError, presenter, reportOptionError } from "./cli/Usage.ts"
import {
  BROKERS_VARIABLE,
  DEFAULT_BROKERS,
  joinStatusDistributionWords,
  parseBrokers,
  parseHttpAddress,
  parseHttpUrl,
  parseRate,
  parseStatusDistribution
} from "./domain/Options.ts"
import { describeFieldMapping, isMapped, parseFieldMapping } from "./domain/formats/FieldMapping.ts"
import { describeFormats, ENCODABLE_FORMAT_NAMES, FORMAT_NAMES, formatNamed } from "./domain/formats/Formats.ts"
import { AlertDestinations } from "./destinations/AlertDestinations.ts"
import { runGenerator } from "./generator/Generator.ts"
import { HttpPort } from "./http/HttpPort.ts"
import { AlertPublisher } from "./sinks/AlertPublisher.ts"
import { CheckpointStore, isCheckpointFile } from "./sinks/CheckpointStore.ts"
import { ErrorStore, RejectedStore, WindowStore } from "./sinks/Stores.ts"
import { FileLineSource, StdoutLineSink } from "./transport/File.ts"
import { FollowFileLineSource } from "./transport/FollowFile.ts"
import { resetAnalyzerGroup } from "./transport/kafka/Admin.ts"
import { kafkaSettingsFromEnv, parseTopicName } from "./transport/kafka/Settings.ts"
import { KafkaLineSink } from "./transport/kafka/Sink.ts"
import { internalTopicOf, ProductionStages, windowGroupOf } from "./transport/kafka/Stages.ts"
import { Telemetry } from "./telemetry/Telemetry.ts"
import { TcpLineSink, TcpLineSource } from "./transport/Tcp.ts"

// Every flag is checked by the CLI module as it is parsed (see cli/Flags.ts): a handler only
// sees valid values, and checks nothing but flags that cannot go together.

// -- flags shared by both commands ---------------------------------------------

const mode = Flags.choice("mode", ["local", "production"], "local: stdout/TCP/files. production: Kafka topics.", "local")
const formatFlag = (names: typeof FORMAT_NAMES) =>
  Flags.choice("format", names, `Line format. ${describeFormats(names)}.`, "json")
const topic = Flags.parsed("topic", "Production mode: the Kafka topic of log lines.", "http-logs", parseTopicName("topic"))
const kafkaBroker = Flags.parsedWithEnv(
  "kafka-broker",
  "Production mode: brokers as host:port[,host:port].",
  BROKERS_VARIABLE,
  DEFAULT_BROKERS,
  parseBrokers
)
const partitions = Flags.wholeNumber("partitions", "Production mode: partitions for topics that loglens creates.", 3, {
  min: 1
})

// -- generate ------------------------------------------------------------------

const generate = Command.make(
  "generate",
  {
    mode,
    format: formatFlag(ENCODABLE_FORMAT_NAMES),
    topic,
    kafkaBroker,
    partitions,
    rate: Flags.parsed("rate", "Lines per second, evenly spaced; 0 means as fast as possible.", "1", parseRate),
    count: Flags.optionalWholeNumber("count", "Stop after this many lines (default: run until stopped).", {
      min: 0,
      unit: "lines"
    }),
    urls: Flags.wholeNumber("urls", "Number of distinct URLs, /resource/1 to /resource/N.", 10, { min: 1 }),
    statusDist: Flags.parsed(
      "status-dist",
      "Percentages of status 200, 404 and 500, adding up to 100: --status-dist 90 5 5.",
      "90 5 5",
      parseStatusDistribution
    ),
    seed: Flags.optionalText("seed", "Same seed, same records (timestamps aside). (default: a random seed)"),
    listen: Flags.optionalWholeNumber(
      "listen",
      "Serve lines over TCP on this port (0: any free port) instead of stdout; starts with the first client. (default: stdout)",
      { min: 0, max: 65535 }
    ),
    host: Flags.text("host", "Address for --listen.", "127.0.0.1")
  },
  Effect.fn("generate")(function*(flags) {
    const listen = Option.getOrUndefined(flags.listen)
    const seed = Option.getOrElse(flags.seed, () => String(Math.random()))
    const sink = flags.mode === "production"
      ? KafkaLineSink.layer({
        settings: kafkaSettingsFromEnv(flags.kafkaBroker),
        topic: flags.topic,
        partitions: flags.partitions
      })
      : listen !== undefined
      ? TcpLineSink.layer({ host: flags.host, port: listen })
      : StdoutLineSink.layer

    yield* runGenerator({
      format: flags.format,
      urls: flags.urls,
      statusDistribution: flags.statusDist,
      seed,
      rate: flags.rate,
      count: Option.getOrUndefined(flags.count)
    }).pipe(Effect.provide(sink))
  })
).pipe(Command.withDescription("Emit synthetic HTTP access logs to stdout, a TCP server, or Kafka."))

// -- analyze -------------------------------------------------------------------

const analyze = Command.make(
  "analyze",
  {
    mode,
    format: formatFlag(FORMAT_NAMES),
    field: Flags.repeated(
      "field",
      "JSON: where the log keeps a record field, as NAME=PATH (NAME one of timestamp, ip, method, url, status; " +
        "PATH a key, dotted for nested objects: --field ip=request.remote_ip). Repeat it for each field. " +
        "(default: each field under its own name)",
      parseFieldMapping
    ),
    topic,
    kafkaBroker,
    partitions,
    input: Flags.optionalText(
      "input",
      "Replay a saved log file (or - for stdin) instead of reading a live stream; exits at its end (see --follow). (default: off)"
    ),
    follow: Flags.toggle(
      "follow",
      "With --input FILE: keep reading as lines are appended, across rotation and copytruncate, like tail -F. " +
        "Live input: idle windows close, and a signal closes every window."
    ),
    fromEnd: Flags.toggle("from-end", "With --follow: a first run starts after the file's last line instead of at its start."),
    host: Flags.text("host", "Local mode: the TCP server to read from.", "localhost"),
    port: Flags.wholeNumber("port", "Local mode: its port.", 9999, { min: 1, max: 65535 }),
    window: Flags.duration("window", "Tumbling event-time window size.", "30s", { minMs: 1 }),
    watermark: Flags.duration(
      "watermark",
      "Allowed lateness: the watermark trails the newest event time by this much.",
      "10s"
    ),
    idleTimeout: Flags.optionalDuration(
      "idle-timeout",
      "A partition quiet this long with nothing unread stops holding windows back; live input all quiet this long " +
        "closes every open window. (default: the window size)"
    ),
    threshold: Flags.wholeNumber("threshold", "Alert when a (window, status) has more errors than this.", 100, {
      min: 0,
      unit: "errors"
    }),
    trigger: Flags.duration("trigger", "How often the console table is printed.", "30s", { minMs: 1 }),
    commitInterval: Flags.duration(
      "commit-interval",
      "Longest time between two durable commits of outputs and checkpoint.",
      "1s",
      { minMs: 1 }
    ),
    output: Flags.text("output", "Output folder.", "./output"),
    checkpoint: Flags.optionalText(
      "checkpoint",
      "Local mode: the checkpoint folder; it belongs to one output folder and is never applied to another. " +
        "Production mode keeps its state in Kafka and has none. (default: <output>/checkpoint)"
    ),
    clean: Flags.toggle(
      "clean",
      "Start over: empty the output and checkpoint folders (production: reset the consumer groups of --group-id " +
        "and delete its internal topic; refused while one of its analyzers runs)."
    ),
    maxLineBytes: Flags.wholeNumber(
      "max-line-bytes",
      "Longer lines are rejected without being held in memory.",
      1024 * 1024,
      { min: 64, unit: "bytes" }
    ),
    // A setting, not a sanity check: year 2999 may be wanted (`--max-future 10000000h`).
    maxFuture: Flags.duration("max-future", "Reject records dated further than this ahead of the clock.", "1h", {
      max: { ms: 100_000 * 365 * 24 * 3_600_000, words: "100,000 years" }
    }),
    groupId: Flags.text(
      "group-id",
      "Production mode: the consumer group. Every analyzer started with the same one shares the topic's partitions " +
        "(and one --output folder, if they like): the results are those of one analyzer.",
      "loglens-analyzer"
    ),
    internalPartitions: Flags.wholeNumber(
      "internal-partitions",
      "Production mode: partitions of the internal topic <group-id>-partials if it has to be created: how many " +
        "analyzers share the merging of windows (it is light work).",
      1,
      { min: 1, max: 1000 }
    ),
    startingOffsets: Flags.choice(
      "starting-offsets",
      ["earliest", "latest"],
      "Production mode: where a group with no committed offsets starts.",
      "earliest"
    ),
    alertsTopic: Flags.parsed(
      "alerts-topic",
      "Production mode: topic that receives alerts.",
      "alerts",
      parseTopicName("alerts-topic")
    ),
    http: Flags.optionalParsed(
      "http",
      "Serve the live dashboard, /metrics, /livez, /readyz and /api/snapshot on HOST:PORT (a bare PORT means " +
        "127.0.0.1; 0 picks a free port). No authentication: keep it on loopback unless the network is trusted. " +
        "(default: off)",
      parseHttpAddress
    ),
    alertmanager: Flags.repeatedParsed(
      "alertmanager",
      "Send alert states (firing, resolved) to this Prometheus Alertmanager, e.g. http://127.0.0.1:9093.",
      (text) => parseHttpUrl("--alertmanager", text)
    ),
    webhook: Flags.repeatedParsed(
      "webhook",
      "POST alert state changes to this URL as Alertmanager's webhook JSON (version 4).",
      (text) => parseHttpUrl("--webhook", text)
    ),
    alertResend: Flags.duration(
      "alert-resend",
      "How often Alertmanager is told again about statuses still firing.",
      "1m",
      { minMs: 1000 }
    )
  },
  Effect.fn("analyze")(function*(flags) {
    const windowMs = flags.window
    const watermarkMs = flags.watermark
    const idleTimeoutMs = Option.getOrElse(flags.idleTimeout, () => windowMs)
    const triggerMs = flags.trigger
    const commitIntervalMs = flags.commitInterval
    const maxFutureMs = flags.maxFuture
    const input = Option.getOrUndefined(flags.input)
    if (isMapped(flags.field) && !formatNamed(flags.format).acceptsFieldMapping) {
      return yield* new OptionError({
        message: `--field maps the fields of JSON logs; --format ${flags.format} has fixed fields, so leave out --field`,
        commandPath: ["loglens", "analyze"]
      })
    }
    if (flags.mode === "production" && input !== undefined) {
      return yield* new OptionError({
        message: "--input replays a file in local mode; leave out --mode production to use it",
        commandPath: ["loglens", "analyze"]
      })
    }
    if (flags.follow && (input === undefined || input === "-")) {
      return yield* new OptionError({ message: "--follow follows a file: give it with --input FILE", commandPath: ["loglens", "analyze"] })
    }
    if (flags.fromEnd && !flags.follow) {
      return yield* new OptionError({
        message: "--from-end is for --follow: add --follow, or leave out --from-end",
        commandPath: ["loglens", "analyze"]
      })
    }
    const kafkaSettings = flags.mode === "production"
      ? kafkaSettingsFromEnv(flags.kafkaBroker)
      : undefined
    if (kafkaSettings !== undefined && Option.isSome(flags.checkpoint)) {
      return yield* new OptionError({
        message: "--checkpoint is for local mode: production mode keeps its state in Kafka, so leave out --checkpoint",
        commandPath: ["loglens", "analyze"]
      })
    }
    const checkpoint = Option.getOrElse(flags.checkpoint, () => path.join(flags.output, "checkpoint"))
    if (flags.clean) {
      if (kafkaSettings !== undefined) {
        yield* resetAnalyzerGroup(kafkaSettings, {
          groups: [flags.groupId, windowGroupOf(flags.groupId)],
          internalTopic: internalTopicOf(flags.groupId)
        })
      }
      yield* clean(flags.output, checkpoint)
    }

    const http = Option.getOrUndefined(flags.http)
    const telemetry = http !== undefined ? Telemetry.layer : Telemetry.layerOff
    const destinations = [
      ...flags.alertmanager.map((url) => ({ kind: "alertmanager" as const, url })),
      ...flags.webhook.map((url) => ({ kind: "webhook" as const, url }))
    ]
    const observers = Layer.mergeAll(
      http !== undefined ? HttpPort.layer(http) : Layer.empty,
      destinations.length > 0
        ? AlertDestinations.layer({ destinations, resendMs: flags.alertResend })
        : Layer.empty
    ).pipe(Layer.provideMerge(telemetry))

    const analysis = {
      format: flags.format,
      fields: flags.field,
      windowMs,
      watermarkMs,
      threshold: flags.threshold,
      idleTimeoutMs,
      maxFutureMs
    }
    if (kafkaSettings !== undefined) {
      const stages = ProductionStages.layer({
        settings: kafkaSettings,
        topic: flags.topic,
        groupId: flags.groupId,
        alertsTopic: flags.alertsTopic,
        startingOffsets: flags.startingOffsets,
        partitions: flags.partitions,
        internalPartitions: flags.internalPartitions,
        output: flags.output,
        analysis,
        commitIntervalMs,
        maxLineBytes: flags.maxLineBytes
      })
      return yield* runProduction({ analysis, triggerMs }).pipe(Effect.provide(Layer.mergeAll(stages, observers)))
    }
    const sinks = Layer.mergeAll(
      ErrorStore.layerFile(path.join(flags.output, "errors")),
      WindowStore.layerFile(path.join(flags.output, "windows")),
      RejectedStore.layerFile(path.join(flags.output, "rejected")),
      CheckpointStore.layerFile(checkpoint, flags.output)
    )
    const transport = Layer.mergeAll(
      input !== undefined && flags.follow
        ? FollowFileLineSource.layer({ file: input, maxLineBytes: flags.maxLineBytes, fromEnd: flags.fromEnd })
        : input !== undefined
        ? FileLineSource.layer({ file: input, maxLineBytes: flags.maxLineBytes })
        : TcpLineSource.layer({ host: flags.host, port: flags.port, maxLineBytes: flags.maxLineBytes }),
      AlertPublisher.layerFile(path.join(flags.output, "alerts"))
    )

    // A replayed file on a terminal gets a progress bar; piped stderr (logs, CI) stays clean.
    const progressTotalBytes = input !== undefined && input !== "-" && process.stderr.isTTY
      ? yield* Effect.promise(() => fs.stat(input).then((s) => (s.isFile() ? s.size : undefined), () => undefined))
      : undefined
    yield* runAnalyzer({
      ...(progressTotalBytes !== undefined ? { progressTotalBytes } : {}),
      analysis,
      triggerMs,
      commitIntervalMs,
      checkpointSettings: {
        // The mapping decides what the lines mean, so a checkpoint is only valid for the same one.
        format: isMapped(flags.field) ? `${flags.format} --field ${describeFieldMapping(flags.field)}` : flags.format,
        window: `${windowMs}ms`,
        watermark: `${watermarkMs}ms`,
        threshold: flags.threshold
      }
    }).pipe(Effect.provide(Layer.mergeAll(sinks, transport, observers)))
  })
).pipe(Command.withDescription(
  "Read a live log stream (TCP or Kafka) or replay a file, keep the errors (status >= 400), " +
    "count them per event-time window and status, and alert above a threshold."
))

const OUTPUT_FOLDERS = ["errors", "windows", "alerts", "rejected"]

class CleanError extends Schema.TaggedError<CleanError>()("CleanError", { message: Schema.String }) {}

/** `--clean`: only loglens's own folders and files, never whatever else lives there. */
const clean = (output: string, checkpoint: string) =>
  Effect.tryPromise({
    try: async () => {
      for (const folder of OUTPUT_FOLDERS) await fs.rm(path.join(output, folder), { recursive: true, force: true })
      const names = await fs.readdir(checkpoint).catch(() => [])
      for (const name of names) if (isCheckpointFile(name)) await fs.rm(path.join(checkpoint, name), { force: true })
    },
    catch: (cause) => new CleanError({ message: `--clean could not empty ${output} and ${checkpoint}: ${String(cause)}` })
  })

const loglens = Command.make("loglens").pipe(
  Command.withDescription("Real-time HTTP error monitor: a log generator and a streaming error analyzer."),
  Command.withSubcommands([generate, analyze])
)

/**
 * Every failure in plain words on stderr: typed errors (and defects that carry one) by their message,
 * anything else with its stack, as a bug. Bad invocations are printed by cli/Usage.ts.
 */
const printFailures = (cause: Cause.Cause<unknown>): void => {
  for (const reason of cause.reasons) {
    if (Cause.isInterruptReason(reason)) continue
    const error: unknown = Cause.isFailReason(reason) ? reason.error : reason.defect
    if (CliError.isCliError(error) || error instanceof OptionError) continue
    const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : undefined
    const message = typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)
    if (tag !== undefined) console.error(`loglens: ${message}`)
    else console.error(`loglens: unexpected failure (a bug in loglens; please report it): ${(error as Error)?.stack ?? message}`)
  }
}

Command.runWith(loglens, { version: "0.1.0" })(joinStatusDistributionWords(process.argv.slice(2))).pipe(
  reportOptionError,
  Effect.provide(Layer.merge(NodeServices.layer, CliOutput.layerPresenter(presenter))),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // SIGINT / SIGTERM end the programs gracefully (see the README), so they exit 0; a bad invocation exits 2.
    teardown: (exit, onExit) => {
      if (Exit.isFailure(exit)) printFailures(exit.cause)
      onExit(exitCode(exit))
    }
  })
)
