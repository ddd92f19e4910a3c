import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 120000,
    // The tests' own kafkajs clients: quiet kafkajs's harmless negative timers, as the CLI does.
    execArgv: ["--disable-warning=TimeoutNegativeWarning"],
    // The tests' own kafkajs clients get loglens's replacements of kafkajs modules too (src/transport/kafka/Kafkajs.ts).
    setupFiles: ["src/transport/kafka/Kafkajs.ts"]
  }
})
