// A Node.js subscriber of the registry's change feed: WatchEvents (server streaming) for one
// model, resumed by sequence whenever the stream breaks, until stdin closes.
//
//   node watch.js HOST:PORT MODEL_NAME [START_AFTER]
//
// Each WatchEvents call asks for the events of MODEL_NAME after the last sequence this process
// has seen: START_AFTER (default 0) at first, then the sequence of the last message received
// (an event's sequence, or a heartbeat's high_water_sequence: how far the server read the feed,
// past events the filter skipped). A stream that ends as a server going away ends it (OK,
// UNAVAILABLE, CANCELLED), or with RESOURCE_EXHAUSTED (a subscriber that fell behind), is called
// again after a short pause; any other code (a refused request or caller) exits 1.
// Nothing is deduplicated or reordered here: what the server sends is what is printed.
//
// What it sees goes to stdout as JSON lines, as it happens (int64 fields as decimal strings):
//   {"kind":"watching","start_after":"5","attempt":3}        a WatchEvents call begins
//   {"kind":"event","sequence":"6","event_type":"EVENT_TYPE_…","model_name":"fraud",
//    "version":"1","before":{…},"after":{…}}                   an event (before/after as JSON)
//   {"kind":"heartbeat","high_water_sequence":"8"}            a message without an event
//   {"kind":"disconnected","code_name":"UNAVAILABLE","details":"…","resume_after":"5"}
//                                                             a stream that had delivered ended
//   {"kind":"unreachable","code_name":"UNAVAILABLE","details":"…"}
//                                                             a call that delivered nothing failed
//   {"kind":"done","events":6,"streams":2,"last_event_sequence":"10","resume_after":"11"}
// Closing stdin cancels the watch and prints "done"; nothing received for GIVE_UP_MS exits 1.
"use strict";

const grpc = require("@grpc/grpc-js");
const { loadService } = require("./protos");

// Pauses between calls while the server is away: from FIRST_PAUSE_MS, doubling up to LAST_PAUSE_MS.
const FIRST_PAUSE_MS = 100;
const LAST_PAUSE_MS = 1000;
const GIVE_UP_MS = 30000;
const RESUMABLE = new Set([
  grpc.status.OK,
  grpc.status.UNAVAILABLE,
  grpc.status.CANCELLED,
  grpc.status.RESOURCE_EXHAUSTED,
]);
// The channel's own reconnection backoff (grpc-js defaults: 1 s growing to 120 s) kept as short,
// so that a restarted server is found again within about a second.
const CHANNEL_OPTIONS = {
  "grpc.initial_reconnect_backoff_ms": FIRST_PAUSE_MS,
  "grpc.max_reconnect_backoff_ms": LAST_PAUSE_MS,
};

function print(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// A google.protobuf.Value (as proto-loader decodes it with oneofs: true) as plain JSON.
function fromValue(value) {
  switch (value.kind) {
    case "nullValue":
      return null;
    case "numberValue":
    case "stringValue":
    case "boolValue":
      return value[value.kind];
    case "structValue":
      return fromStruct(value.structValue);
    case "listValue":
      return (value.listValue.values || []).map(fromValue);
    default:
      throw new Error(`a google.protobuf.Value without a kind: ${JSON.stringify(value)}`);
  }
}

function fromStruct(struct) {
  const fields = (struct && struct.fields) || {};
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, fromValue(value)]));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class Subscriber {
  constructor(target, name, startAfter) {
    const Service = loadService();
    this.client = new Service(target, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    this.name = name;
    this.resumeAfter = startAfter; // where the next call starts: the last sequence seen
    this.lastEventSequence = null;
    this.events = 0;
    this.streams = 0; // calls that delivered at least one message
    this.attempts = 0;
    this.stopped = false;
    this.call = null;
    this.lastHeard = Date.now();
  }

  // One WatchEvents call, until its stream ends: resolves with its final status.
  watchOnce() {
    return new Promise((resolve) => {
      this.attempts += 1;
      print({ kind: "watching", start_after: this.resumeAfter, attempt: this.attempts });
      const call = this.client.WatchEvents({
        start_after: this.resumeAfter,
        model_names: [this.name],
      });
      this.call = call;
      let delivered = false;
      call.on("data", (response) => {
        if (!delivered) this.streams += 1;
        delivered = true;
        this.lastHeard = Date.now();
        if (response.event) {
          const event = response.event;
          this.events += 1;
          this.lastEventSequence = event.sequence;
          this.resumeAfter = event.sequence;
          print({
            kind: "event",
            sequence: event.sequence,
            event_type: event.event_type,
            model_name: event.model_name,
            version: event.version,
            actor: event.actor,
            before: fromStruct(event.before),
            after: fromStruct(event.after),
          });
        } else {
          this.resumeAfter = response.high_water_sequence;
          print({ kind: "heartbeat", high_water_sequence: response.high_water_sequence });
        }
      });
      call.on("error", () => {}); // reported once, with every other ending, by "status"
      call.on("status", (status) => {
        this.call = null;
        resolve({ delivered, status });
      });
    });
  }

  async run() {
    let pause = FIRST_PAUSE_MS;
    while (!this.stopped) {
      const { delivered, status } = await this.watchOnce();
      if (this.stopped) break;
      const ending = { code_name: grpc.status[status.code], details: status.details };
      if (delivered) {
        print({ kind: "disconnected", ...ending, resume_after: this.resumeAfter });
        pause = FIRST_PAUSE_MS;
      } else {
        print({ kind: "unreachable", ...ending });
      }
      if (!RESUMABLE.has(status.code)) {
        throw new Error(`WatchEvents ended with ${ending.code_name}: ${ending.details}`);
      }
      if (Date.now() - this.lastHeard > GIVE_UP_MS) {
        throw new Error(`nothing from the server for ${GIVE_UP_MS} ms; last: ${ending.code_name}`);
      }
      await sleep(pause);
      pause = Math.min(pause * 2, LAST_PAUSE_MS);
    }
    this.client.close();
    print({
      kind: "done",
      events: this.events,
      streams: this.streams,
      last_event_sequence: this.lastEventSequence,
      resume_after: this.resumeAfter,
    });
  }

  stop() {
    this.stopped = true;
    if (this.call) this.call.cancel();
  }
}

async function main() {
  const [target, name, startAfter = "0"] = process.argv.slice(2);
  if (!target || !name || !/^\d+$/.test(startAfter)) {
    process.stderr.write("usage: node watch.js HOST:PORT MODEL_NAME [START_AFTER]\n");
    process.exit(2);
  }
  const subscriber = new Subscriber(target, name, startAfter);
  process.stdin.on("end", () => subscriber.stop());
  process.stdin.resume();
  await subscriber.run();
  process.stdin.pause();
}

main().catch((error) => {
  process.stderr.write(`node subscriber failed: ${error.stack || error}\n`);
  process.exit(1);
});
