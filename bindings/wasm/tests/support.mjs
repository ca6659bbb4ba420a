// Shared by the node tests: the package's nodejs build and the project's spec files.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The package as Node.js loads it (the `node` export of pkg/package.json). */
export const smsbatch = require("../pkg/node/smsbatch.js");

/** A file of the repository's `tests/data/`, the same files the Rust tests read. */
export function data(rel) {
  return readFileSync(new URL(`../../../tests/data/${rel}`, import.meta.url), "utf8");
}

export function dataJson(rel) {
  return JSON.parse(data(rel));
}
