/**
 * Issue 12: N analyzers in one consumer group, with the REAL CLI (`node
 * dist/main.js analyze --mode production`) as N child processes against a
 * REAL broker. The input is written by the test with known content (not by
 * the generator), so the expected results come from the independent model in
 * support/groupReference.ts applied to exactly what each partition holds, in
 * offset order:
 *
 * 1. N = 1, 2 and 3 analyzers over the same input give the model's errors/,
 *    rejected/, windows/ rows (exact, unique_ips and urls included) and
 *    alerts (read_committed, each exactly once), and more than one process
 *    did the reading;
 * 2. faults while lines stream in: SIGKILL + restart (three times), one
 *    SIGSTOP past the session timeout, a fourth analyzer joining; the results
 *    are still the model's, every errors/ part file holds exactly its
 *    partition's errors from its first offset on, and the killed instances'
 *    partitions are read again within 30 s;
 * 3. a partition with unread records that no analyzer reads holds windows
 *    back (it is not idle), so none of its records is counted late.
 *
 * About idleness: a partition with nothing unread is idle once it had no
 * valid record for --idle-timeout, and a partition that never had a record
 * is idle at once. Either would let windows close before a partition's next
 * records arrive, and then those are late by the idle rule, which depends on
 * wall time. So the tests first give every partition one record and wait
 * until each has been committed, then produce the rest without pauses as long
 * as --idle-timeout, and only the final closes (everything read) are idle
 * closes. Then the rows depend only on each partition's records in offset
 * order.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { AssignerProtocol, CompressionTypes, Kafka, logLevel, type Producer } from "kafkajs"
import { readParts, tempDir, type Finished } from "../e2e/cli.ts"
import { prng } from "../support/random.ts"
import { madeGroup, madeTopic, plainKafka, randomSuffix, sleep } from "./broker.ts"
import { cli, hasStackTrace, type Running, stop, useSharedBroker } from "./support/processes.ts"
import { committedOffsets, createTopic, readCommitted, topicOffsets } from "./support/topics.ts"
import { expectAlertMessages } from "./support/productionAlerts.ts"
import { expectSameMultiset, lastLinesRead } from "./support/truth.ts"
import {
  type Entry,
  errorKeyOf,
  type GroupRow,
  type GroupTruth,
  groupTruth,
  makeEntries,
  recordLine
} from "./support/groupReference.ts"

const shared = useSharedBroker()

const WINDOW_MS = 30_000
const WATERMARK_MS = 10_000

/** A window-aligned instant three hours ago: valid (not in the future), and many windows fit before now. */
const baseMs = () => Math.floor((Date.now() - 3 * 3_600_000) / WINDOW_MS) * WINDOW_MS

const names = (label: string) => {
  const id = `${label}-${randomSuffix()}`
  const topic = madeTopic(`loglens-scale-${id}`)
  const group = madeGroup(`loglens-scale-${id}-group`)
  // What the analyzers make of the group: stage 2's group and the internal topic.
  madeGroup(`${group}-windows`)
  madeTopic(`${group}-partials`)
  const dir = tempDir(`scale-${label}`)
  return { topic, group, alerts: madeTopic(`${topic}-alerts`), output: path.join(dir, "out") }
}

type Names = ReturnType<typeof names>

const analyzerArgs = (n: Names, o: { partitions: number; threshold: number; idleTimeout: string }) => [
  "analyze", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", n.topic,
  "--partitions", String(o.partitions), "--group-id", n.group, "--alerts-topic", n.alerts, "--output", n.output,
  "--window", "30s", "--watermark", "10s", "--threshold", String(o.threshold), "--idle-timeout", o.idleTimeout,
  "--commit-interval", "500ms", "--trigger", "1s"
]

/** SIGTERM, then the exit (SIGKILL after `timeoutMs`). */
const terminate = (child: Running, timeoutMs = 60_000): Promise<Finished> => stop(child, "SIGTERM", timeoutMs)

/** Its last console report shows a watermark: it merges windows (stage 2) now. */
const mergesWindows = (child: Running): boolean => {
  const reports = [...child.stdout().matchAll(/^(?:Final )?Report at .*?, watermark (none yet|\S+)/gm)]
  return reports.length > 0 && reports[reports.length - 1]![1] !== "none yet"
}

const alive = (child: Running) => child.child.exitCode === null && child.child.signalCode === null

/** The closing stderr line's count: "loglens: read 12,345 lines in ...", or -1. */
const linesReadOnStderr = (stderr: string): number => {
  const all = [...stderr.matchAll(/loglens: read ([\d,]+) lines in /g)]
  return all.length === 0 ? -1 : Number(all[all.length - 1]![1]!.replaceAll(",", ""))
}

/** The consumer group as the broker describes it: its state and each member's partitions of `topic`. */
const describeGroup = async (group: string, topic: string) => {
  const admin = plainKafka(shared.brokers).admin()
  await admin.connect()
  try {
    const { groups } = await admin.describeGroups([group])
    const g = groups[0]!
    return {
      state: g.state,
      members: g.members.map((m) => ({
        clientId: m.clientId,
        partitions: m.memberAssignment.length === 0
          ? []
          : [...(AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [])].sort((a, b) => a - b)
      }))
    }
  } finally {
    await admin.disconnect()
  }
}

/** Until the group is stable with `members` members that each own at least one partition of `topic`. */
const waitForGroup = async (group: string, topic: string, members: number, timeoutMs = 90_000) => {
  const deadline = Date.now() + timeoutMs
  let last: Awaited<ReturnType<typeof describeGroup>> | undefined
  while (Date.now() < deadline) {
    last = await describeGroup(group, topic).catch(() => undefined)
    if (last !== undefined && last.state === "Stable" && last.members.length === members &&
      last.members.every((m) => m.partitions.length > 0)) return last
    await sleep(300)
  }
  throw new Error(`group ${group} did not settle with ${members} members in ${timeoutMs} ms: ${JSON.stringify(last)}`)
}

/** Until `check(committed offsets of group on topic)` holds. */
const waitForCommitted = async (
  group: string,
  topic: string,
  check: (offsets: Map<number, number>) => boolean,
  what: string,
  timeoutMs = 90_000
) => {
  const deadline = Date.now() + timeoutMs
  let offsets = new Map<number, number>()
  while (Date.now() < deadline) {
    offsets = await committedOffsets(shared.brokers, group, topic).catch(() => offsets)
    if (check(offsets)) return offsets
    await sleep(250)
  }
  throw new Error(`${what}: not reached in ${timeoutMs} ms; committed offsets ${JSON.stringify([...offsets])}`)
}

/**
 * A producer that writes one round to every partition in one request (a "lockstep" round), so
 * no partition runs far ahead of the others while the rest is produced. Idempotent, acks=-1, one
 * request in flight: each partition's offsets are the order of its entries.
 */
const lockstepProducer = async (topic: string) => {
  const producer: Producer = plainKafka(shared.brokers).producer({
    idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false
  })
  await producer.connect()
  return {
    round: (lines: ReadonlyArray<ReadonlyArray<string>>) =>
      producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: lines.flatMap((ls, partition) => ls.map((value) => ({ value, partition })))
      }),
    close: () => producer.disconnect()
  }
}

/** Produces `entries[p][from, to)` for every p in rounds of `perRound` lines per partition. */
const produceRange = async (
  producer: Awaited<ReturnType<typeof lockstepProducer>>,
  entries: ReadonlyArray<ReadonlyArray<Entry>>,
  from: number,
  to: number,
  perRound: number
) => {
  for (let i = from; i < to; i += perRound) {
    await producer.round(entries.map((es) => es.slice(i, Math.min(i + perRound, to)).map((e) => e.line)))
  }
}

const errorCount = (truth: GroupTruth) => truth.errors.reduce((n, es) => n + es.length, 0)

/**
 * Until windows/ holds as many rows as the model has, and errors/ every error: every window is
 * closed and every error is out. Fails early if an analyzer that should be running exited.
 */
const waitForResults = async (output: string, truth: GroupTruth, running: () => ReadonlyArray<Running>, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs
  const want = { rows: truth.rows.length, errors: errorCount(truth) }
  let have = { rows: 0, errors: 0 }
  while (Date.now() < deadline) {
    have = { rows: readParts(path.join(output, "windows")).length, errors: readParts(path.join(output, "errors")).length }
    if (have.rows >= want.rows && have.errors >= want.errors) return have
    for (const child of running()) {
      if (!alive(child)) throw new Error(`an analyzer exited on its own (${child.child.exitCode}):\n${child.stderr()}`)
    }
    await sleep(500)
  }
  const stderrs = running().map((c, i) => `--- analyzer ${i}:\n${c.stderr().slice(-3000)}`).join("\n")
  throw new Error(`results incomplete after ${timeoutMs} ms: ${JSON.stringify(have)} of ${JSON.stringify(want)}\n${stderrs}`)
}

const byCell = (a: GroupRow, b: GroupRow) =>
  a.window_start < b.window_start ? -1 : a.window_start > b.window_start ? 1 : a.status - b.status

/** windows/: exactly the model's rows, one per (window, status), every field equal. */
const expectRows = (output: string, truth: GroupTruth): Array<GroupRow> => {
  const rows = readParts(path.join(output, "windows")) as Array<GroupRow>
  const cells = rows.map((r) => `${r.window_start}|${r.status}`)
  const duplicated = cells.filter((c, i) => cells.indexOf(c) !== i)
  expect(duplicated, "(window, status) cells with more than one row in windows/").toEqual([])
  expect([...rows].sort(byCell)).toEqual([...truth.rows].sort(byCell))
  return rows
}

/** errors/ and rejected/: the model's records, each exactly once. */
const expectErrorsAndRejected = (output: string, truth: GroupTruth) => {
  expectSameMultiset("errors/", readParts(path.join(output, "errors")).map(errorKeyOf), truth.errors.flat().map((e) => e.key))
  expectSameMultiset("rejected/", readParts(path.join(output, "rejected")).map((r) => r.line), truth.rejected.flat())
}

/**
 * Every visible errors/ part `part-pPPPP-<from>.jsonl` holds only partition P's errors, in offset
 * order, the first of them at or after <from> and after the previous part's last; the parts of
 * each partition put end to end are exactly its errors. A part published by a writer that had lost
 * its partition (or twice, or torn) breaks this.
 */
const expectPartsTile = (output: string, truth: GroupTruth) => {
  const folder = path.join(output, "errors")
  const where = new Map<string, { partition: number; index: number; offset: number }>()
  truth.errors.forEach((es, partition) => es.forEach((e, index) => where.set(e.key, { partition, index, offset: e.offset })))
  const problems: Array<string> = []
  const next = truth.errors.map(() => 0)
  const lastOffset = truth.errors.map(() => -1)
  const names = fs.readdirSync(folder).filter((n) => !n.startsWith(".")).sort()
  for (const name of names) {
    const m = /^part-p(\d{4})-(\d{20})\.jsonl$/.exec(name)
    if (m === null) {
      problems.push(`${name}: not an input part's name`)
      continue
    }
    const partition = Number(m[1])
    const from = Number(m[2])
    if (from <= lastOffset[partition]!) problems.push(`${name}: starts at ${from}, but an earlier part already holds offset ${lastOffset[partition]}`)
    const text = fs.readFileSync(path.join(folder, name), "utf8")
    if (!text.endsWith("\n")) problems.push(`${name}: does not end with a newline (torn)`)
    const lines = text.split("\n").filter((l) => l.length > 0)
    lines.forEach((line, i) => {
      const at = where.get(errorKeyOf(JSON.parse(line)))
      if (at === undefined) problems.push(`${name} line ${i + 1}: not an error of the input: ${line}`)
      else if (at.partition !== partition) problems.push(`${name} line ${i + 1}: an error of partition ${at.partition} (offset ${at.offset})`)
      else if (at.index !== next[partition]) {
        problems.push(`${name} line ${i + 1}: error #${at.index} of partition ${partition} (offset ${at.offset}), expected #${next[partition]}`)
        next[partition] = at.index + 1
      } else {
        if (i === 0 && at.offset < from) problems.push(`${name}: its first error is at offset ${at.offset}, before ${from}`)
        next[partition]!++
        lastOffset[partition] = at.offset
      }
    })
  }
  truth.errors.forEach((es, p) => {
    if (next[p] !== es.length) problems.push(`partition ${p}: the parts end at error #${next[p]} of ${es.length}`)
  })
  expect(problems.slice(0, 10), `${problems.length} problems with the errors/ parts`).toEqual([])
}

/** The alerts topic (read_committed): one alert per cell over the threshold, each with the model's fields. */
const expectAlerts = async (alertsTopic: string, truth: GroupTruth, threshold: number) => {
  const messages = await readCommitted(shared.brokers, alertsTopic, truth.alerts.length, { settleMs: 3000 })
  const rows = new Map(truth.rows.map((r) => [`${r.window_start}|${r.status}`, r]))
  // Which threshold + 1 errors fired it depends on the interleaving: at least one IP, at most the cell's.
  expectAlertMessages(messages, truth.alerts, threshold, (uniqueIps, key) =>
    uniqueIps >= 1 && uniqueIps <= rows.get(key)!.unique_ips ? undefined : `${key}: ${uniqueIps} not in [1, ${rows.get(key)!.unique_ips}]`)
  return messages
}

/** Each partition's high watermark is its entry count: nothing lost, nothing produced twice. */
const expectTopicHolds = async (topic: string, entries: ReadonlyArray<ReadonlyArray<Entry>>) => {
  const ends = await topicOffsets(shared.brokers, topic)
  expect(ends.map((o) => o.high - o.low)).toEqual(entries.map((es) => es.length))
}

/**
 * The part files of errors/ and rejected/, hidden (`.part-p0003-….jsonl.<token>`) or visible, each
 * with its partition and an identity that a rename keeps (inode and birth time).
 */
const partFiles = (output: string, hidden: boolean) =>
  ["errors", "rejected"].flatMap((folder) => {
    const dir = path.join(output, folder)
    if (!fs.existsSync(dir)) return []
    return fs.readdirSync(dir).flatMap((name) => {
      const m = /^(\.?)part-p(\d{4})-/.exec(name)
      if (m === null || (m[1] === ".") !== hidden) return []
      try {
        const st = fs.statSync(path.join(dir, name), { bigint: true })
        return [{ name: `${folder}/${name}`, partition: Number(m[2]), id: `${st.ino}:${st.birthtimeNs}` }]
      } catch {
        return [] // renamed or deleted meanwhile
      }
    })
  })

const hiddenParts = (output: string) =>
  ["errors", "rejected", "windows"].flatMap((f) =>
    fs.existsSync(path.join(output, f)) ? fs.readdirSync(path.join(output, f)).filter((n) => n.startsWith(".")).map((n) => `${f}/${n}`) : []
  )

describe("N analyzers in one consumer group (issue 12), real CLI, real broker", () => {
  it("N = 1, 2 and 3 give identical results: the model's errors/, rejected/, windows/ and alerts", async () => {
    const PARTITIONS = 6
    const THRESHOLD = 120
    const seed = Number(process.env["LOGLENS_SCALE_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
    // 6 × 6 000 lines, 50 ms apart per partition: 300 s of event time, 10 windows of 3 600 lines.
    const entries = makeEntries({ baseMs: baseMs(), partitions: PARTITIONS, perPartition: 6000, stepMs: 50, seed })
    const truth = groupTruth(entries, { windowMs: WINDOW_MS, watermarkMs: WATERMARK_MS, threshold: THRESHOLD })
    const log: Array<string> = [`seed ${seed} (LOGLENS_SCALE_SEED=${seed} replays this input)`]
    log.push(`model: ${JSON.stringify(truth.counts)}, ${truth.rows.length} rows, ${truth.alerts.length} alerts`)
    // The input exercises what it should: late errors, rejections, cells on both sides of the threshold.
    expect(truth.counts.late).toBeGreaterThanOrEqual(3)
    expect(truth.counts.rejected).toBeGreaterThan(10)
    expect(truth.alerts.length).toBeGreaterThan(5)
    expect(truth.rows.length - truth.alerts.length).toBeGreaterThan(5)
    expect(truth.counts.errors / truth.counts.lines).toBeGreaterThan(0.08)

    const results: Array<{ errors: Array<string>; rows: Array<GroupRow>; alerts: Array<string>; rejected: Array<string> }> = []
    for (const N of [1, 2, 3]) {
      const t0 = Date.now()
      const n = names(`n${N}`)
      await createTopic(shared.brokers, n.topic, PARTITIONS)
      const args = analyzerArgs(n, { partitions: PARTITIONS, threshold: THRESHOLD, idleTimeout: "4s" })
      const analyzers = Array.from({ length: N }, () => cli(args))
      // Every analyzer owns partitions before anything is produced: the N share the reading.
      const group = await waitForGroup(n.group, n.topic, N)
      const producer = await lockstepProducer(n.topic)
      try {
        // One record per partition first; once all are committed, no partition is idle before its last record.
        await produceRange(producer, entries, 0, 1, 1)
        await waitForCommitted(n.group, n.topic, (o) => entries.every((_, p) => (o.get(p) ?? 0) >= 1), "first records committed")
        await produceRange(producer, entries, 1, 6000, 500)
      } finally {
        await producer.close()
      }
      await expectTopicHolds(n.topic, entries)
      await waitForResults(n.output, truth, () => analyzers)
      // A few more epochs, so that a row or error written twice would show up too.
      await sleep(2000)
      const done = await Promise.all(analyzers.map((a) => terminate(a)))
      for (const d of done) {
        expect(d.code, d.stderr).toBe(0)
        expect(hasStackTrace(d.stderr), d.stderr).toBe(false)
      }
      const read = done.map((d) => linesReadOnStderr(d.stderr))
      log.push(
        `N=${N}: ${Date.now() - t0} ms; assignment ${JSON.stringify(group.members.map((m) => m.partitions))}; ` +
          `lines read per process ${JSON.stringify(read)}`
      )
      // Each process read its share (more than one process read lines when N > 1), and together all of them.
      for (const r of read) expect(r, `lines read per process: ${read}`).toBeGreaterThan(0)
      expect(read.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(truth.counts.lines)

      expectErrorsAndRejected(n.output, truth)
      expectPartsTile(n.output, truth)
      const rows = expectRows(n.output, truth)
      const alerts = await expectAlerts(n.alerts, truth, THRESHOLD)
      results.push({
        errors: readParts(path.join(n.output, "errors")).map(errorKeyOf).sort(),
        rows: [...rows].sort(byCell),
        alerts: alerts.map((a) => a.key!).sort(),
        rejected: readParts(path.join(n.output, "rejected")).map((r) => r.line).sort()
      })
    }
    console.log(`[scale-out] ${log.join("\n[scale-out] ")}`)
    expect(results[1]).toEqual(results[0])
    expect(results[2]).toEqual(results[0])
  }, 420_000)

  it("faults: SIGKILL + restart, SIGSTOP past the session, a 4th analyzer joining, while lines stream in", async () => {
    const PARTITIONS = 6
    const THRESHOLD = 60
    const PER_PARTITION = 3000
    const PER_ROUND = 5 // per partition, every 100 ms: 300 lines/s in all, 60 s
    const seed = Number(process.env["LOGLENS_SCALE_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
    const random = prng(seed ^ 0x2545f491)
    // 100 ms of event time per record and partition: 300 s, 10 windows of 1 800 lines.
    const entries = makeEntries({ baseMs: baseMs(), partitions: PARTITIONS, perPartition: PER_PARTITION, stepMs: 100, seed, outOfOrder: 0.06 })
    const truth = groupTruth(entries, { windowMs: WINDOW_MS, watermarkMs: WATERMARK_MS, threshold: THRESHOLD })
    const log: Array<string> = [`seed ${seed} (LOGLENS_SCALE_SEED=${seed} replays this input)`]
    log.push(`model: ${JSON.stringify(truth.counts)}, ${truth.rows.length} rows, ${truth.alerts.length} alerts`)
    expect(truth.counts.late).toBeGreaterThanOrEqual(3)
    expect(truth.alerts.length).toBeGreaterThan(5)
    expect(truth.rows.length - truth.alerts.length).toBeGreaterThan(5)

    const n = names("faults")
    await createTopic(shared.brokers, n.topic, PARTITIONS)
    // A long idle timeout: a stall of the test's producer on a loaded machine must not make a
    // partition idle (and its next records late by the idle rule) in the middle of the stream.
    const args = analyzerArgs(n, { partitions: PARTITIONS, threshold: THRESHOLD, idleTimeout: "8s" })
    /** Every analyzer started, in order; `current` those not killed. */
    const all: Array<{ child: Running; name: string; startedAt: number }> = []
    let instances = 0
    const startOne = () => {
      const entry = { child: cli(args), name: `#${++instances}`, startedAt: Date.now() }
      all.push(entry)
      return entry
    }
    const killed = new Set<Running>()
    const current = () => all.filter((a) => !killed.has(a.child))
    for (let i = 0; i < 3; i++) startOne()
    await waitForGroup(n.group, n.topic, 3)

    const producer = await lockstepProducer(n.topic)
    let t0 = Date.now()
    const since = () => Date.now() - t0
    let streaming: () => void = () => undefined
    const started = new Promise<void>((resolve) => {
      streaming = resolve
    })
    const production = (async () => {
      try {
        await produceRange(producer, entries, 0, 1, 1)
        await waitForCommitted(n.group, n.topic, (o) => entries.every((_, p) => (o.get(p) ?? 0) >= 1), "first records committed")
        t0 = Date.now()
        streaming()
        for (let k = 0, i = 1; i < PER_PARTITION; k++, i += PER_ROUND) {
          const wait = t0 + k * 100 - Date.now()
          if (wait > 0) await sleep(wait)
          await produceRange(producer, entries, i, Math.min(i + PER_ROUND, PER_PARTITION), PER_ROUND)
        }
      } finally {
        streaming()
        await producer.close()
      }
    })()
    production.catch(() => undefined) // awaited below; this only keeps an early failure from being "unhandled"

    /**
     * How long until every partition's committed offset moved past where it was 0.5 s after `at`,
     * and which partitions took 4 s or more (longer than any live owner's epoch: the stopped
     * process's, taken over once its session timed out).
     */
    const untilAllMove = async (at: number, what: string) => {
      await sleep(Math.max(0, at + 500 - Date.now()))
      const before = await committedOffsets(shared.brokers, n.group, n.topic)
      const movedAt = new Map<number, number>()
      await waitForCommitted(n.group, n.topic, (o) => {
        for (const [p, offset] of o) if (offset > (before.get(p) ?? 0) && !movedAt.has(p)) movedAt.set(p, Date.now() - at)
        return movedAt.size === PARTITIONS
      }, what, 60_000)
      const stalled = [...movedAt].filter(([, ms]) => ms >= 4000).map(([p]) => p).sort()
      return { ms: Date.now() - at, stalled, movedAt }
    }
    const recoveries: Array<number> = []
    const killOne = async (which: "any" | "merger") => {
      // One that has been in the group long enough to own partitions (a restart takes a few seconds to join).
      const settled = current().filter((a) => Date.now() - a.startedAt >= 10_000)
      // The process that merges windows (stage 2, the one internal partition) is the one whose
      // reports show a watermark; the others have no window of their own ("watermark none yet").
      const mergers = current().filter((a) => mergesWindows(a.child))
      const victim = which === "merger" && mergers.length === 1
        ? mergers[0]!
        : settled[Math.floor(random() * settled.length)]!
      if (which === "merger") {
        log.push(`${since()} ms: merging windows now: ${mergers.map((a) => a.name).join(", ") || "(none seen)"}`)
        const windowsGroup = await describeGroup(`${n.group}-windows`, `${n.group}-partials`)
        log.push(`  ${n.group}-windows: ${JSON.stringify(windowsGroup.members.map((m) => m.partitions))}`)
      }
      victim.child.child.kill("SIGKILL")
      const at = Date.now()
      log.push(`${since()} ms: SIGKILL ${victim.name}${mergesWindows(victim.child) ? " (it merges windows)" : ""}`)
      killed.add(victim.child)
      const end = await victim.child.done
      expect(end.signal).toBe("SIGKILL")
      const recovery = await untilAllMove(at, `partitions read again after SIGKILL of ${victim.name}`)
      expect(recovery.stalled.length, `${victim.name} owned no partition when it was killed`).toBeGreaterThan(0)
      recoveries.push(recovery.ms)
      if (which === "merger" && victim === mergers[0]) {
        // Someone else merges windows again: its reports show a watermark.
        const deadline = at + 60_000
        while (Date.now() < deadline && !current().some((a) => a.child !== victim.child && mergesWindows(a.child))) await sleep(200)
        log.push(`  windows merged again (a report with a watermark) ${Date.now() - at} ms after the kill`)
      }
      log.push(
        `  every partition committed again ${recovery.ms} ms after the kill; ` +
          `stalled ones (the killed process's): ${JSON.stringify(recovery.stalled.map((p) => `${p} after ${recovery.movedAt.get(p)} ms`))}`
      )
      const again = startOne()
      log.push(`${since()} ms: restarted it as ${again.name}`)
    }
    const atOrAfter = async (ms: number) => {
      const wait = t0 + ms - Date.now()
      if (wait > 0) await sleep(wait)
    }

    // The schedule counts from the start of the stream, once the first records are committed.
    await started
    await atOrAfter(8_000)
    await killOne("any")

    await atOrAfter(22_000)
    const settled = current().filter((a) => Date.now() - a.startedAt >= 10_000)
    const frozen = settled[Math.floor(random() * settled.length)]!
    frozen.child.child.kill("SIGSTOP")
    const frozenAt = Date.now()
    const hiddenAtStop = partFiles(n.output, true)
    const readAtStop = lastLinesRead(frozen.child.stdout())
    log.push(`${since()} ms: SIGSTOP ${frozen.name} (its last report: ${readAtStop} lines read)`)
    const takenOver = await untilAllMove(frozenAt, `partitions read again while ${frozen.name} is stopped`)
    const frozenPartitions = takenOver.stalled
    log.push(
      `  every partition committed again ${takenOver.ms} ms after the SIGSTOP; the stopped process's partitions ` +
        `(stalled 4 s or more): ${JSON.stringify(frozenPartitions.map((p) => `${p} after ${takenOver.movedAt.get(p)} ms`))}`
    )
    // The hidden parts of its partitions when it stopped: its uncommitted work (parts are written at commit time, so often none).
    const frozenHidden = hiddenAtStop.filter((f) => frozenPartitions.includes(f.partition))
    log.push(`  hidden parts of those partitions at the SIGSTOP: ${JSON.stringify(frozenHidden.map((f) => f.name))}`)
    await sleep(Math.max(0, frozenAt + 10_000 - Date.now())) // well past the 6 s session timeout
    const stderrAtCont = frozen.child.stderr().length
    const visibleAtCont = new Set(partFiles(n.output, false).map((f) => f.id))
    frozen.child.child.kill("SIGCONT")
    log.push(`${since()} ms: SIGCONT ${frozen.name} after ${Date.now() - frozenAt} ms`)

    await atOrAfter(36_000)
    const fourth = startOne()
    log.push(`${since()} ms: a 4th analyzer joins (${fourth.name})`)

    await atOrAfter(44_000)
    await killOne("merger")
    await atOrAfter(53_000)
    await killOne("any")

    await production
    log.push(`${since()} ms: production done`)
    await expectTopicHolds(n.topic, entries)
    await waitForResults(n.output, truth, () => current().map((a) => a.child), 150_000)
    await sleep(2000)
    const finished = await Promise.all(current().map(async (a) => ({ name: a.name, child: a.child, done: await terminate(a.child) })))
    log.push(`${since()} ms: all stopped`)
    for (const f of finished) {
      expect(f.done.code, `${f.name}:\n${f.done.stderr}`).toBe(0)
      expect(hasStackTrace(f.done.stderr), f.done.stderr).toBe(false)
    }
    const afterCont = frozen.child.stderr().slice(stderrAtCont)
    log.push(`${frozen.name}'s stderr after SIGCONT: ${JSON.stringify(afterCont.trim()) || "(nothing)"}`)
    log.push(
      `${frozen.name}'s "lines read": ${readAtStop} at the SIGSTOP, ${lastLinesRead(frozen.child.stdout())} in its last report` +
        `${killed.has(frozen.child) ? " (before it was killed later)" : ""}`
    )
    // A hidden part the stopped process held, made visible after it was continued, is a part of
    // a writer that had lost its partition: the file (same inode and birth time) must not show up.
    const frozenIds = new Set(frozenHidden.map((f) => f.id))
    const publishedByFrozen = partFiles(n.output, false).filter((f) => frozenIds.has(f.id) && !visibleAtCont.has(f.id))
    log.push(`lines read per process (closing stderr line): ${
      all.map((a) => `${a.name}=${killed.has(a.child) ? "killed" : linesReadOnStderr(a.child.stderr())}`).join(" ")
    }`)
    log.push(`hidden parts left: ${JSON.stringify(hiddenParts(n.output))}`)
    console.log(`[scale-out faults] ${log.join("\n[scale-out faults] ")}`)

    expectErrorsAndRejected(n.output, truth)
    // No part of a writer that had lost its partition (the frozen one after SIGCONT included) is visible.
    expectPartsTile(n.output, truth)
    expectRows(n.output, truth)
    await expectAlerts(n.alerts, truth, THRESHOLD)
    // The frozen process, continued, committed nothing for partitions it had lost: if it had
    // published anything for them, the checks above would have found a duplicate or a gap.
    expect(hasStackTrace(afterCont), afterCont).toBe(false)
    expect(publishedByFrozen.map((f) => f.name), "hidden parts of the stopped process published after SIGCONT").toEqual([])
    expect(frozenPartitions.length, "the stopped process's partitions were not seen stalling").toBeGreaterThan(0)
    expect(recoveries.length).toBe(3)
    for (const r of recoveries) expect(r, `recovery after SIGKILL: ${recoveries}`).toBeLessThan(30_000)
  }, 420_000)

  it("an unowned partition with unread records holds windows back: none of its records is counted late", async () => {
    const THRESHOLD = 15
    const IDLE = 8_000
    const base = baseMs()
    const n = names("unowned")
    await createTopic(shared.brokers, n.topic, 2)
    const random = prng(0x51ab1e)
    /** `count` records of partition `p` from `fromMs`, `stepMs` apart, a quarter of them errors. */
    const span = (p: number, fromMs: number, count: number, stepMs: number): Array<Entry> =>
      Array.from({ length: count }, (_, i) => {
        const roll = random()
        const record = {
          timestamp: new Date(fromMs + i * stepMs + p * 7).toISOString(),
          ip: `10.1.${p}.${1 + Math.floor(random() * 40)}`,
          method: "GET",
          url: `/shop/item/${1 + Math.floor(random() * 10)}`,
          status: roll < 0.15 ? 404 : roll < 0.25 ? 500 : 200
        }
        return { line: recordLine(record), record }
      })
    // Phase 1, read by analyzer A: both partitions in window W0 = [base, base + 30 s), newest at
    // base + 20 s (wm = base + 10 s). Then partition 0 alone trickles on (5 records a second, event
    // times base + 20 s to about + 23 s), so partition 1 turns idle in A's reports (nothing unread, no
    // record for --idle-timeout) while partition 0 is not: W0 stays open (wm_0 < base + 13 s).
    const phase1 = [span(0, base, 200, 100), span(1, base, 200, 100)]
    const trickle = span(0, base + 20_000, 200, 50)
    // Phase 2, produced after A is killed: partition 1 goes on in W0 (from base + 21 s: not late, its
    // wm is base + 10 s) and into W1; partition 0 jumps five minutes ahead.
    const phase2 = [span(0, base + 300_000, 100, 100), span(1, base + 21_000, 240, 100)]
    const settings = { windowMs: WINDOW_MS, watermarkMs: WATERMARK_MS, threshold: THRESHOLD }
    const w0 = new Date(base).toISOString()

    const args = analyzerArgs(n, { partitions: 2, threshold: THRESHOLD, idleTimeout: `${IDLE / 1000}s` })
    const log: Array<string> = []
    const t0 = Date.now()
    const a = cli(args)
    await waitForGroup(n.group, n.topic, 1)
    const producer = await lockstepProducer(n.topic)
    let trickled = 0
    try {
      await produceRange(producer, phase1, 0, 200, 200)
      await waitForCommitted(n.group, n.topic, (o) => o.get(0) === 200 && o.get(1) === 200, "A read phase 1")
      const p1ReadAt = Date.now()
      // Partition 0 trickles until partition 1 has been quiet for the idle timeout and a few epochs more.
      while (Date.now() < p1ReadAt + IDLE + 3000) {
        await producer.round([[trickle[trickled++]!.line], []])
        await sleep(200)
      }
      await waitForCommitted(n.group, n.topic, (o) => o.get(0) === 200 + trickled, "A read the trickle")
      a.child.kill("SIGKILL")
      expect((await a.done).signal).toBe("SIGKILL")
      log.push(`A killed ${Date.now() - p1ReadAt} ms after it committed partition 1; ${trickled} records trickled to partition 0`)
      // A closed nothing: partition 0 was never idle and its watermark stayed before W0's end.
      expect(readParts(path.join(n.output, "windows"))).toEqual([])

      // A member of the group that never reads: it holds partition 1 for as long as the test wants,
      // like an owner that is stuck. (Its client id sorts after the analyzers', so the round-robin
      // assignment gives it partition 1 once an analyzer joins.)
      const holder = new Kafka({
        clientId: "zz-loglens-test-holder", brokers: [...shared.brokers], logLevel: logLevel.NOTHING,
        retry: { retries: 8, initialRetryTime: 300 }
      }).consumer({ groupId: n.group, sessionTimeout: 10_000, rebalanceTimeout: 20_000, heartbeatInterval: 1000, maxWaitTimeInMs: 200 })
      let held: Array<number> = []
      holder.on(holder.events.GROUP_JOIN, (e) => void (held = [...(e.payload.memberAssignment[n.topic] ?? [])].sort()))
      await holder.connect()
      try {
        await holder.subscribe({ topics: [n.topic] })
        await holder.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async ({ pause }) => void pause() })
        holder.pause([{ topic: n.topic }])
        // A's dead member leaves the group when its session times out; then the holder has both.
        const alone = Date.now() + 60_000
        while (held.length < 2 && Date.now() < alone) await sleep(200)
        expect(held, "the holder never got the partitions").toEqual([0, 1])

        await produceRange(producer, phase2, 0, 240, 240)
        const entries = [[...phase1[0]!, ...trickle.slice(0, trickled), ...phase2[0]!], [...phase1[1]!, ...phase2[1]!]]
        await expectTopicHolds(n.topic, entries)
        const truth = groupTruth(entries, settings)
        expect(truth.counts.late).toBe(0)
        // If partition 1 were taken as idle while nobody reads it (its last report says idle, but it
        // has unread records), W0 and W1 would close at partition 0's watermark (base + 290 s) and
        // partition 1's phase-2 errors would come after the close: the rows would be these instead.
        // They differ, so the test can tell.
        const ifIdle = groupTruth([entries[0]!, phase1[1]!], settings)
        expect(ifIdle.rows).not.toEqual(truth.rows)

        // B, started only now: it gets partition 0 and stage 2; partition 1 stays with the holder, unread.
        const b = cli(args)
        const group = await waitForGroup(n.group, n.topic, 2)
        log.push(`group with B: ${JSON.stringify(group.members)}`)
        expect(held, "the holder should hold partition 1").toEqual([1])
        await waitForCommitted(n.group, n.topic, (o) => o.get(0) === entries[0]!.length, "B read partition 0's phase 2", 60_000)
        log.push(`B committed partition 0 at ${Date.now() - t0} ms`)
        // Partition 0's watermark is now base + 290 s and its report is committed. Give stage 2 ten
        // epochs: with partition 1 (unread records, nobody reading) held back, nothing may close.
        const holdUntil = Date.now() + 5000
        while (Date.now() < holdUntil) {
          const rows = readParts(path.join(n.output, "windows"))
          expect(rows.filter((r) => r.window_start === w0), "W0 closed while partition 1 had unread records").toEqual([])
          expect(rows, "a window closed while partition 1 had unread records").toEqual([])
          await sleep(250)
        }
        expect((await committedOffsets(shared.brokers, n.group, n.topic)).get(1), "partition 1 was read").toBe(200)

        await holder.disconnect()
        log.push(`holder left at ${Date.now() - t0} ms`)
        await waitForResults(n.output, truth, () => [b], 120_000)
        await sleep(2000)
        const done = await terminate(b)
        expect(done.code, done.stderr).toBe(0)
        expect(hasStackTrace(done.stderr), done.stderr).toBe(false)
        log.push(`B's closing line: ${done.stderr.trim().split("\n").filter((l) => l.includes("lines in")).join(" ")}`)
        log.push(`done at ${Date.now() - t0} ms`)
        console.log(`[scale-out unowned] ${log.join("\n[scale-out unowned] ")}`)
        expectErrorsAndRejected(n.output, truth)
        expectPartsTile(n.output, truth)
        expectRows(n.output, truth)
        await expectAlerts(n.alerts, truth, THRESHOLD)
      } finally {
        await holder.disconnect().catch(() => undefined)
      }
    } finally {
      await producer.close()
    }
  }, 300_000)
})
