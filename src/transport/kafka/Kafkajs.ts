/**
 * kafkajs with loglens's replacements of three of its modules (two of them
 * on kafkajs 2.2.4 only), which must be in place before kafkajs loads: every
 * module here that imports kafkajs imports this first (and the tests' setup
 * does, for their own clients).
 */
import { BATCH, FetchedBatch } from "./FetchedBatch.ts"
import { kafkajsVersion, replaceKafkajsModule } from "./KafkajsModules.ts"
// Its read_committed filter lets some aborted messages through.
import "./ReadCommitted.ts"
import { decodeRecord, RECORD_DECODER } from "./RecordDecoder.ts"

// Its record decoder and its batches spend most of their time on BigInt arithmetic. These two
// follow kafkajs 2.2.4's code line by line: with another version, kafkajs's own run.
if (kafkajsVersion === "2.2.4") {
  replaceKafkajsModule(RECORD_DECODER, decodeRecord, ["kafkajs/src/protocol/recordBatch/v0/decoder.js"])
  replaceKafkajsModule(BATCH, FetchedBatch, ["kafkajs/src/consumer/consumerGroup.js"])
}
