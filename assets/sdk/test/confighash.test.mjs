// configHash against the reference's vectors (computed by the reference hashJobConfig).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { hashJobConfig, stableStringify } from "../lib/configHash.mjs";

const vectors = JSON.parse(
  readFileSync(new URL("./fixtures/confighash-vectors.json", import.meta.url), "utf8"),
);

test("the vector file is not empty", () => {
  assert.ok(vectors.length >= 10, `only ${vectors.length} vectors`);
});

for (const vector of vectors) {
  test(`configHash vector ${vector.name}`, () => {
    // The vectors are JavaScript expressions on purpose (Dates, holes, boxed values...).
    const value = new Function(`return ${vector.js};`)();
    assert.equal(hashJobConfig(value), vector.configHash);
    // The wire text round-trips to the same hash: what the console relies on.
    assert.equal(hashJobConfig(JSON.parse(vector.wire)), vector.configHash);
  });
}

test("key order does not change the hash; a value change does", () => {
  const a = hashJobConfig({ model: "m", learningRate: 2e-4, datasetSource: { type: "huggingface", name: "x" } });
  const b = hashJobConfig({ datasetSource: { name: "x", type: "huggingface" }, learningRate: 2e-4, model: "m" });
  const c = hashJobConfig({ model: "m", learningRate: 3e-4, datasetSource: { type: "huggingface", name: "x" } });
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.match(a, /^[0-9a-f]{16}$/);
});

test("keys sort by UTF-16 code units, not code points", () => {
  assert.equal(stableStringify({ "\u{1F600}": 1, "\uFFFF": 2 }), '{"\u{1F600}":1,"\uFFFF":2}');
  assert.equal(stableStringify({ 10: "a", 2: "b", 1: "c" }), '{"1":"c","10":"a","2":"b"}');
});

test("a circular config cannot be hashed", () => {
  const config = { model: "m" };
  config.self = config;
  assert.throws(() => hashJobConfig(config), /circular/);
  const selfToJSON = { toJSON() { return this; } };
  assert.throws(() => hashJobConfig({ x: selfToJSON }), /circular/);
});

test("a value shared by two siblings is not a cycle", () => {
  const shared = { type: "huggingface", name: "x" };
  assert.equal(stableStringify({ a: shared, b: [shared] }), '{"a":{"name":"x","type":"huggingface"},"b":[{"name":"x","type":"huggingface"}]}');
});

test("a throwing toJSON propagates", () => {
  assert.throws(() => hashJobConfig({ x: { toJSON() { throw new Error("boom"); } } }), /boom/);
});
