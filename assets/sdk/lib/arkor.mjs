// createArkor: the project's frozen entry-point manifest, recognised by `_kind === "arkor"`.

export function createArkor(input) {
  return Object.freeze({ _kind: "arkor", trainer: input.trainer });
}

export function isArkor(value) {
  return typeof value === "object" && value !== null && value._kind === "arkor";
}
