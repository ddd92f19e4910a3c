/**
 * Child processes of the CLI integration tests, tracked so that none is left
 * running: `cli(...)` starts `node dist/main.js ...` (test/e2e/cli.ts) and
 * remembers it; `killAll()` (in afterAll) SIGKILLs whatever still runs, by pid.
 */
import { afterAll, beforeAll } from "vitest"
import { start, type Running, type StartOptions } from "../../e2e/cli.ts"
import { removeLeftovers, testBrokers } from "../broker.ts"

const running = new Set<Running>()

export const cli = (args: ReadonlyArray<string>, options: StartOptions = {}): Running => {
  const child = start(args, options)
  running.add(child)
  void child.done.then(() => running.delete(child))
  return child
}

export const killAll = async (): Promise<void> => {
  const left = [...running]
  for (const child of left) {
    if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill("SIGKILL")
  }
  await Promise.all(left.map((c) => c.done))
}

/** SIGINT, then the exit; SIGKILL if it has not exited after `timeoutMs`. */
export const interrupt = (child: Running, timeoutMs = 60_000) => stop(child, "SIGINT", timeoutMs)

/** `signal`, then the exit; SIGKILL if it has not exited after `timeoutMs`. */
export const stop = async (child: Running, signal: NodeJS.Signals, timeoutMs = 60_000) => {
  child.child.kill(signal)
  const timer = setTimeout(() => child.child.kill("SIGKILL"), timeoutMs)
  try {
    return await child.done
  } finally {
    clearTimeout(timer)
  }
}

/** No JavaScript stack trace in a process's output: errors must be plain messages. */
export const hasStackTrace = (text: string): boolean => /\n\s+at .+[(:]\d+/.test(text) || /\bat async\b/.test(text)

export type { Running }

/**
 * For a file of CLI tests against the shared broker: finds it before the
 * tests; after them, ends the processes they left and deletes the topics and
 * groups they registered (also when a test failed). `brokers` is set once
 * the tests run.
 */
export const useSharedBroker = (): { brokers: Array<string> } => {
  const shared = { brokers: [] as Array<string> }
  beforeAll(async () => {
    shared.brokers = await testBrokers()
  }, 600_000)
  afterAll(async () => {
    await killAll()
    await removeLeftovers(shared.brokers)
  }, 60_000)
  return shared
}
