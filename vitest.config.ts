import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 120000,
    // The tests' own kafkajs clients: quiet kafkajs's harmless negative timers, as the CLI does.
    execArgv: ["--disable-warning=TimeoutNegativeWarning"]
  }
})
