// A technician client for Fieldsync written from docs/sync-protocol.md alone,
// with nothing but the stock npm packages @automerge/automerge and cborg.
//
//   node client.mjs <server-url> <username> <password> <job-id>
//
// It logs in, syncs (the job, the price book and the van arrive whole), works
// the job with the fast path (one request), then makes an edit the server
// refuses together with a valid note, handles the `rejected` reply by rolling
// back and replaying, and syncs the rest. It prints one line per step
// (`STEP key=value ...`) and exits non-zero on anything the document does
// not promise. tests/tests/api/node_client.rs runs it against a real server.

import { randomBytes, randomUUID } from "node:crypto";
import * as A from "@automerge/automerge";
import { decode, encode } from "cborg";

const [server, username, password, jobId] = process.argv.slice(2);
if (!jobId) {
  console.error("usage: node client.mjs <server-url> <username> <password> <job-id>");
  process.exit(2);
}

/** Most requests one sync may send (the document suggests a small bound). */
const MAX_ROUNDS = 8;
const str = (s) => new A.ImmutableString(s);

function step(name, fields) {
  const kv = Object.entries(fields).map(([k, v]) => `${k}=${v}`);
  console.log(["STEP", name, ...kv].join(" "));
}

function fail(why) {
  throw new Error(why);
}

// ----- logging in -------------------------------------------------------

/** This install's actor: 16 random bytes as 32 hex digits, kept for life. */
const actor = randomBytes(16).toString("hex");

async function login() {
  const res = await fetch(`${server}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      username,
      password,
      device: { name: "Node reference client", actor_id: actor },
    }),
  });
  if (res.status !== 200) fail(`login: ${res.status} ${await res.text()}`);
  return res.json();
}

// ----- the device's state -----------------------------------------------

/**
 * What outlives a sync, per document: the document and its acknowledged
 * heads. `edits` is this client's own record of the edits the server has
 * not acknowledged (needed to replay after a rejection).
 */
const held = new Map(); // id -> { doc, acked: string[] }
const edits = []; // { doc: id, name, apply: (d) => void, change: hash }

let requests = 0;
let token;

async function post(request) {
  requests += 1;
  const res = await fetch(`${server}/v1/sync`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/cbor",
    },
    body: encode(request),
  });
  if (res.status !== 200) fail(`sync: ${res.status} ${await res.text()}`);
  if (res.headers.get("content-type") !== "application/cbor") fail("sync: not CBOR");
  const response = decode(new Uint8Array(await res.arrayBuffer()));
  if (response.v !== 1) fail(`sync: version ${response.v}`);
  return response;
}

/** The primed sync state of the fast path, exactly as the document gives it. */
function primed(acked) {
  return {
    sharedHeads: acked,
    theirHeads: acked,
    theirNeed: [],
    theirHave: [{ lastSync: acked, bloom: new Uint8Array(0) }],
    lastSentHeads: [],
    sentHashes: {},
    inFlight: false,
    haveResponded: false,
    readOnly: false,
    peerReadOnly: false,
  };
}

const holdsAll = (doc, heads) => A.getMissingDeps(doc, heads).length === 0;

/** A first message: the fast path when every acknowledged head is here. */
function opening(entry) {
  const usable = entry.acked.length > 0 && holdsAll(entry.doc, entry.acked);
  return A.generateSyncMessage(entry.doc, usable ? primed(entry.acked) : A.initSyncState());
}

/** Makes one edit on a job and records it (for a replay after a rejection). */
function edit(id, name, apply) {
  const entry = held.get(id);
  const before = A.getHeads(entry.doc);
  entry.doc = A.change(entry.doc, { message: name }, apply);
  const after = A.getHeads(entry.doc);
  if (after.length !== 1 || before.includes(after[0])) fail(`${name}: no new change`);
  edits.push({ doc: id, name, apply, change: after[0] });
  return after[0];
}

/**
 * The rejected document's roll back: the document as the server has it (at
 * the acknowledged heads), then every recorded edit again except the
 * refused one; an edit that no longer applies is dropped too.
 */
function rollBack(id, refused) {
  const entry = held.get(id);
  entry.doc = A.clone(A.view(entry.doc, entry.acked), { actor });
  const dropped = [];
  const mine = edits.filter((e) => e.doc === id);
  for (const e of mine) edits.splice(edits.indexOf(e), 1);
  for (const e of mine) {
    if (e.change === refused) {
      dropped.push(e.name);
      continue;
    }
    try {
      edit(id, e.name, e.apply);
    } catch (err) {
      dropped.push(`${e.name} (${err.message})`);
    }
  }
  return dropped;
}

/** Forgets recorded edits the server now has (not after the acknowledged heads). */
function acknowledge(id) {
  const entry = held.get(id);
  const since = new Set(
    A.getChangesSince(entry.doc, entry.acked).map((c) => A.decodeChange(c).hash),
  );
  for (const e of edits.filter((x) => x.doc === id)) {
    if (!since.has(e.change)) edits.splice(edits.indexOf(e), 1);
  }
}

/**
 * One sync: the first request, then later rounds while some document is
 * not finished. Returns the outcomes seen and what rejections dropped.
 */
async function sync() {
  const states = new Map();
  const docs = [];
  for (const [id, entry] of held) {
    const [state, msg] = opening(entry);
    states.set(id, state);
    if (msg) docs.push({ id, msg });
  }
  let request = { v: 1, docs };
  const outcomes = [];
  const dropped = [];
  for (let round = 1; request; round += 1) {
    if (round > MAX_ROUNDS) fail("sync did not finish");
    const response = await post(request);
    const unfinished = new Set();
    const restarted = new Map(); // id -> first message of a fresh exchange
    for (const reply of response.docs) {
      const { id, outcome } = reply;
      outcomes.push({ id, ...outcome });
      if (outcome.status === "not_found") {
        // The server stored nothing of it: keep the copy (and its work),
        // end this exchange, send it again next sync (sync-protocol.md).
        continue;
      }
      let entry = held.get(id);
      if (!entry) {
        entry = { doc: A.init({ actor }), acked: [] };
        held.set(id, entry);
        states.set(id, A.initSyncState());
      }
      let msg = null;
      if (reply.msg) {
        msg = A.decodeSyncMessage(reply.msg);
        const [doc, state] = A.receiveSyncMessage(entry.doc, states.get(id), reply.msg);
        entry.doc = doc;
        states.set(id, state);
      }
      if (outcome.status === "removed") {
        const same = msg && [...msg.heads].sort().join() === [...A.getHeads(entry.doc)].sort().join();
        if (same) held.delete(id);
        continue;
      }
      if (msg && msg.heads.length > 0 && holdsAll(entry.doc, msg.heads)) {
        entry.acked = msg.heads;
        acknowledge(id);
      }
      if (outcome.status === "rejected") {
        // Over for this sync; roll back and replay, then exchange it afresh.
        if (!outcome.change) fail(`rejected without a named change: ${outcome.code}`);
        dropped.push(...rollBack(id, outcome.change));
        const [state, next] = opening(entry);
        states.set(id, state);
        if (next) restarted.set(id, next);
        continue;
      }
      const over =
        outcome.status === "accepted" && msg && holdsAll(entry.doc, msg.heads) && msg.need.length === 0;
      if (!over) unfinished.add(id);
    }
    // Later rounds: the unfinished documents, and every other one as known.
    const next = [];
    const known = [];
    for (const [id, entry] of held) {
      if (restarted.has(id)) {
        next.push({ id, msg: restarted.get(id) });
        continue;
      }
      if (unfinished.has(id)) {
        const [state, msg] = A.generateSyncMessage(entry.doc, states.get(id));
        states.set(id, state);
        if (msg) {
          next.push({ id, msg });
          continue;
        }
      }
      known.push({ id, heads: entry.acked });
    }
    request = next.length > 0 ? { v: 1, docs: next, known } : null;
  }
  return { outcomes, dropped };
}

// ----- the visit ----------------------------------------------------------

const jobDoc = `job/${jobId}`;
const tokens = await login();
token = tokens.access_token;
const me = tokens.user.id;
if (tokens.user.role !== "technician") fail(`role ${tokens.user.role}`);
step("LOGGED_IN", { user: me });

// 1. First sync: nothing held, so everything in scope arrives whole.
let before = requests;
let result = await sync();
if (!held.has(jobDoc)) fail(`job not received: ${JSON.stringify(result.outcomes)}`);
if (!held.has("pricebook")) fail("price book not received");
const job = () => held.get(jobDoc).doc;
if (String(job().status) !== "scheduled") fail(`status ${job().status}`);
step("SYNCED", { requests: requests - before, docs: held.size, status: String(job().status) });

// 2. Technician edits, then the fast path: one request.
const labour = randomUUID();
edit(jobDoc, "start_travel", (d) => {
  d.status = str("travelling");
  d.status_history.push({
    from: str("scheduled"),
    to: str("travelling"),
    by: str(me),
    role: str("technician"),
    device_time: new Date(),
  });
});
edit(jobDoc, "add_labour", (d) => {
  d.labour[labour] = {
    by: str(me),
    minutes: 45,
    rate: str("standard"),
    description: str("Bled the radiators"),
    device_time: new Date(),
  };
});
const addNote = (text) => (d) => {
  const at = d.notes.length;
  A.splice(d, ["notes"], at, 0, (at ? "\n" : "") + text);
};
edit(jobDoc, "add_note", addNote("On my way, 20 minutes"));
before = requests;
result = await sync();
const fast = result.outcomes.filter((o) => o.id === jobDoc);
if (fast.length !== 1 || fast[0].status !== "accepted") fail(`fast path: ${JSON.stringify(fast)}`);
if (edits.length !== 0) fail(`${edits.length} edits not acknowledged`);
step("FAST_PATH", { requests: requests - before, outcome: fast[0].status, labour });

// 3. An edit the server refuses (a technician may not set the priority),
//    then a valid note made on top of it, all in one sync.
const refused = edit(jobDoc, "set_priority", (d) => {
  d.priority = str("low");
});
edit(jobDoc, "add_note", addNote("Needs a new pump, quote requested"));
before = requests;
result = await sync();
const seen = result.outcomes.filter((o) => o.id === jobDoc);
const rejection = seen.find((o) => o.status === "rejected");
if (!rejection) fail(`no rejection: ${JSON.stringify(seen)}`);
if (rejection.change !== refused) fail(`named ${rejection.change}, refused was ${refused}`);
const last = seen[seen.length - 1];
if (last.status !== "accepted") fail(`after the rejection: ${JSON.stringify(seen)}`);
if (edits.length !== 0) fail(`${edits.length} edits not acknowledged`);
if (String(job().priority) === "low") fail("the refused edit is still in the document");
step("REJECTED", { code: rejection.code, change: rejection.change, dropped: result.dropped.join(",") });
step("RECOVERED", { requests: requests - before, outcomes: seen.map((o) => o.status).join(",") });

// 4. Nothing left: a routine sync is one request and changes nothing.
before = requests;
const heads = A.getHeads(job());
result = await sync();
if (A.getHeads(job()).join() !== heads.join()) fail("an idle sync changed the job");
step("IDLE", { requests: requests - before, total: requests });
