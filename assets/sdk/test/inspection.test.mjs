// Trainer discovery: the six export shapes, precedence, dedupe, and the inspect rules.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createArkor, createTrainer } from "../index.mjs";
import {
  findInspectableTrainer,
  findTrainerCandidates,
  findTrainerInModule,
  getTrainerInspection,
} from "../lib/inspection.mjs";

const make = (name) => createTrainer({ name, model: "m", dataset: { type: "huggingface", name: "x" } });
const handRolled = (name) => ({ name, start: async () => ({ jobId: "j" }), wait: async () => ({}), cancel: async () => {} });

test("each of the six shapes is found", () => {
  const t = make("t");
  const shapes = {
    "arkor manifest": { arkor: createArkor({ trainer: t }) },
    "arkor is a trainer": { arkor: t },
    "trainer export": { trainer: t },
    "default manifest": { default: createArkor({ trainer: t }) },
    "default is a trainer": { default: t },
    "default.trainer plain object": { default: { trainer: t } },
  };
  for (const [shape, mod] of Object.entries(shapes)) {
    assert.equal(findTrainerInModule(mod), t, shape);
    assert.equal(findInspectableTrainer(mod)?.name, "t", shape);
  }
});

test("precedence: arkor, then trainer, then default", () => {
  const [a, b, c] = [make("a"), make("b"), make("c")];
  assert.equal(findTrainerInModule({ default: c, trainer: b, arkor: createArkor({ trainer: a }) }), a);
  assert.equal(findTrainerInModule({ default: c, trainer: b, arkor: a }), a);
  assert.equal(findTrainerInModule({ default: createArkor({ trainer: c }), trainer: b }), b);
  assert.equal(findTrainerInModule({ default: { trainer: c } }), c);
});

test("the same trainer reachable twice is listed once", () => {
  const t = make("t");
  const mod = { arkor: createArkor({ trainer: t }), trainer: t, default: createArkor({ trainer: t }) };
  assert.deepEqual(findTrainerCandidates(mod), [t]);
});

test("nothing trainer-shaped: null", () => {
  for (const mod of [{}, { default: 42 }, { default: null }, { arkor: { _kind: "arkor" } }, { trainer: { start() {} } }]) {
    assert.equal(findTrainerInModule(mod), null);
    assert.equal(findInspectableTrainer(mod), null);
  }
});

test("an unbranded first candidate hides a branded later one from inspection", () => {
  const mod = { arkor: handRolled("plain"), trainer: make("branded") };
  assert.equal(findTrainerInModule(mod).name, "plain");
  assert.equal(findInspectableTrainer(mod), null);
});

test("a brand that throws or returns a partial shape is not inspectable", () => {
  const throwing = handRolled("x");
  Object.defineProperty(throwing, Symbol.for("arkor.trainer.inspect"), { value: () => { throw new Error("no"); } });
  const partial = handRolled("y");
  Object.defineProperty(partial, Symbol.for("arkor.trainer.inspect"), { value: () => ({ name: "y", config: {} }) });
  assert.equal(getTrainerInspection(throwing), null);
  assert.equal(getTrainerInspection(partial), null);
});
