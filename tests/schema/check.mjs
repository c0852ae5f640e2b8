// check.mjs - validate the JSON Schemas, the examples and the fixtures.
//
//   cd tests/schema && npm ci && node check.mjs
//
// Checks, one output line per file:
//   - schemas/*.schema.json compile with ajv in strict mode (draft 2020-12)
//   - schemas/examples/*.json are valid saga definitions and point "$schema"
//     at ../saga-definition.schema.json
//   - tests/fixtures/definitions/valid/*.json are valid
//   - tests/fixtures/definitions/invalid/*.json are valid or invalid exactly
//     as invalid/expect.json's "schema_valid" says; when invalid, ajv must
//     report an error at each pointer that expect.json lists
//   - invalid/expect.json itself is well formed and covers every fixture
//   - tests/fixtures/events/*.json are valid or invalid CloudEvents exactly
//     as events/expect.json's "valid" says; when invalid, ajv must report an
//     error at its "error_at" pointer
//   - the lifecycle event schema's own "examples" are valid, and
//     tests/fixtures/lifecycle/valid_*.json are valid lifecycle event data,
//     invalid_*.json invalid
// Ends with "N passed, N failed"; exits 1 on any failure.

import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const schemaDir = join(root, "schemas");
const examplesDir = join(schemaDir, "examples");
const validDir = join(root, "tests", "fixtures", "definitions", "valid");
const invalidDir = join(root, "tests", "fixtures", "definitions", "invalid");
const eventsDir = join(root, "tests", "fixtures", "events");
const lifecycleDir = join(root, "tests", "fixtures", "lifecycle");

let passed = 0;
let failed = 0;

function rel(path) {
  return relative(root, path);
}

function pass(path, note) {
  passed++;
  console.log(`ok   ${rel(path)}${note ? ` (${note})` : ""}`);
}

function fail(path, why) {
  failed++;
  console.log(`FAIL ${rel(path)}: ${why}`);
}

function readJson(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

function jsonFiles(dir, exclude = []) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json") && !exclude.includes(f))
    .sort();
}

// One readable line per ajv error: "<pointer>: <message> <params>".
function describe(errors) {
  return (errors || [])
    .map((e) => {
      const where = e.instancePath === "" ? '""' : e.instancePath;
      const extra = [];
      for (const k of ["additionalProperty", "missingProperty", "passingSchemas", "allowedValues", "propertyName", "property"]) {
        if (e.params && e.params[k] !== undefined) extra.push(`${k}=${JSON.stringify(e.params[k])}`);
      }
      return `${where}: ${e.message}${extra.length ? ` (${extra.join(", ")})` : ""}`;
    })
    .join("; ");
}

// Where an ajv error points: the instance location, and for errors about a
// named property (unknown / missing) also that property's location.
function errorLocations(e) {
  const locs = [e.instancePath];
  const p = e.params || {};
  const named = [p.additionalProperty, p.unevaluatedProperty, p.propertyName];
  if (e.keyword === "dependentRequired" || e.keyword === "dependencies") named.push(p.property);
  for (const name of named) {
    if (name !== undefined) locs.push(`${e.instancePath}/${String(name).replace(/~/g, "~0").replace(/\//g, "~1")}`);
  }
  return locs;
}

// The most telling ajv error at one of the expected pointers: a oneOf
// verdict first, else one that is not an "if" wrapper nor a failed branch.
function headline(errors, pointers) {
  const at = errors.filter((e) => errorLocations(e).some((l) => pointers.includes(l)));
  const oneOf = at.filter((e) => e.keyword === "oneOf");
  const telling = at.filter((e) => e.keyword !== "if" && !/\/(oneOf|anyOf)\/[0-9]+\//.test(e.schemaPath));
  return oneOf[0] || telling[0] || at[0] || errors[0];
}

function resolvePointer(doc, pointer) {
  if (pointer === "") return { found: true, value: doc };
  if (!pointer.startsWith("/")) return { found: false };
  let cur = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const tok = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(cur) && /^(0|[1-9][0-9]*)$/.test(tok) && Number(tok) < cur.length) {
      cur = cur[Number(tok)];
    } else if (cur !== null && typeof cur === "object" && !Array.isArray(cur) && Object.hasOwn(cur, tok)) {
      cur = cur[tok];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: cur };
}

// ---- schemas -------------------------------------------------------------

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);

const schemaFiles = {
  definition: join(schemaDir, "saga-definition.schema.json"),
  cloudevent: join(schemaDir, "cloudevent.schema.json"),
  lifecycle: join(schemaDir, "lifecycle-event.schema.json"),
};
const validators = {};
for (const [key, path] of Object.entries(schemaFiles)) {
  try {
    const schema = readJson(path);
    if (schema.$schema !== "https://json-schema.org/draft/2020-12/schema") {
      throw new Error(`"$schema" is ${JSON.stringify(schema.$schema)}, expected draft 2020-12`);
    }
    if (!ajv.validateSchema(schema)) throw new Error(`not a valid schema: ${ajv.errorsText(ajv.errors)}`);
    validators[key] = ajv.compile(schema);
    pass(path, "strict compile");
  } catch (err) {
    fail(path, err.message);
  }
}
if (!validators.definition || !validators.cloudevent || !validators.lifecycle) {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}

// Every property and every definition of the definition schema is described.
{
  const path = schemaFiles.definition;
  const schema = readJson(path);
  const missing = [];
  const walk = (node, where) => {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${where}/${i}`));
      return;
    }
    for (const group of ["properties", "$defs"]) {
      if (node[group] && typeof node[group] === "object") {
        for (const [name, sub] of Object.entries(node[group])) {
          if (typeof sub !== "object" || typeof sub.description !== "string" || sub.description === "") {
            missing.push(`${where}/${group}/${name}`);
          }
        }
      }
    }
    for (const [k, v] of Object.entries(node)) {
      if (k !== "examples" && k !== "default" && k !== "const" && k !== "enum") walk(v, `${where}/${k}`);
    }
  };
  walk(schema, "#");
  if (missing.length) fail(path, `no "description" on ${missing.join(", ")}`);
  else pass(path, "every property and definition described");
}

// ---- examples and valid fixtures ------------------------------------------

const validateDefinition = validators.definition;

for (const f of jsonFiles(examplesDir)) {
  const path = join(examplesDir, f);
  try {
    const doc = readJson(path);
    if (doc.$schema !== "../saga-definition.schema.json") {
      fail(path, `"$schema" should be "../saga-definition.schema.json"`);
    } else if (!validateDefinition(doc)) {
      fail(path, describe(validateDefinition.errors));
    } else {
      pass(path, "valid");
    }
  } catch (err) {
    fail(path, err.message);
  }
}

for (const f of jsonFiles(validDir)) {
  const path = join(validDir, f);
  try {
    const doc = readJson(path);
    if (validateDefinition(doc)) pass(path, "valid");
    else fail(path, describe(validateDefinition.errors));
  } catch (err) {
    fail(path, err.message);
  }
}

// ---- invalid fixtures -------------------------------------------------------

const expectPath = join(invalidDir, "expect.json");
let expect = {};
{
  const problems = [];
  try {
    expect = readJson(expectPath);
    const files = new Set(jsonFiles(invalidDir, ["expect.json"]));
    for (const f of files) if (!Object.hasOwn(expect, f)) problems.push(`no entry for ${f}`);
    for (const [f, e] of Object.entries(expect)) {
      if (!files.has(f)) problems.push(`entry ${f} has no file`);
      if (typeof e !== "object" || e === null) {
        problems.push(`${f}: entry is not an object`);
        continue;
      }
      const keys = Object.keys(e).sort().join(",");
      if (keys !== "errors,schema_valid") problems.push(`${f}: keys must be exactly errors, schema_valid`);
      if (typeof e.schema_valid !== "boolean") problems.push(`${f}: schema_valid is not a boolean`);
      if (!Array.isArray(e.errors) || e.errors.length === 0) {
        problems.push(`${f}: errors must be a non-empty array`);
        continue;
      }
      for (const line of e.errors) {
        const m = typeof line === "string" ? /^((?:\/(?:[^~/]|~[01])*)*): (.+)$/.exec(line) : null;
        if (!m) problems.push(`${f}: bad error line ${JSON.stringify(line)}`);
        else if (/[.]$/.test(m[2]) || /^[A-Z]/.test(m[2])) problems.push(`${f}: message not in PostgreSQL style: ${JSON.stringify(m[2])}`);
      }
    }
  } catch (err) {
    problems.push(err.message);
  }
  if (problems.length) fail(expectPath, problems.join("; "));
  else pass(expectPath, `${Object.keys(expect).length} entries`);
}

for (const f of jsonFiles(invalidDir, ["expect.json"])) {
  const path = join(invalidDir, f);
  const e = expect[f];
  if (!e || typeof e.schema_valid !== "boolean" || !Array.isArray(e.errors)) {
    fail(path, "no usable entry in expect.json");
    continue;
  }
  let doc;
  try {
    doc = readJson(path);
  } catch (err) {
    fail(path, err.message);
    continue;
  }
  const pointers = e.errors.map((line) => line.slice(0, line.indexOf(": ")));
  const unresolved = pointers.filter((p) => !resolvePointer(doc, p).found);
  if (unresolved.length) {
    fail(path, `expected error pointer(s) not in the file: ${unresolved.map((p) => JSON.stringify(p)).join(", ")}`);
    continue;
  }
  const ok = validateDefinition(doc);
  if (ok !== e.schema_valid) {
    fail(path, ok ? "schema accepts it, expect.json says schema_valid=false"
                  : `schema rejects it, expect.json says schema_valid=true: ${describe(validateDefinition.errors)}`);
    continue;
  }
  if (ok) {
    pass(path, "schema-valid, semantic error for the loader");
    continue;
  }
  const located = new Set(validateDefinition.errors.flatMap(errorLocations));
  const missed = pointers.filter((p) => !located.has(p));
  if (missed.length) {
    fail(path, `no schema error at ${missed.map((p) => JSON.stringify(p)).join(", ")}; got: ${describe(validateDefinition.errors)}`);
  } else {
    pass(path, `rejected: ${describe([headline(validateDefinition.errors, pointers)])}`);
  }
}

// ---- CloudEvents -----------------------------------------------------------

const validateEvent = validators.cloudevent;
const eventsExpectPath = join(eventsDir, "expect.json");
let eventsExpect = {};
try {
  eventsExpect = readJson(eventsExpectPath);
  const files = new Set(jsonFiles(eventsDir, ["expect.json"]));
  const problems = [];
  for (const f of files) if (!eventsExpect[f] || typeof eventsExpect[f].valid !== "boolean") problems.push(`no entry for ${f}`);
  for (const f of Object.keys(eventsExpect)) if (!files.has(f)) problems.push(`entry ${f} has no file`);
  if (problems.length) fail(eventsExpectPath, problems.join("; "));
  else pass(eventsExpectPath, `${files.size} entries`);
} catch (err) {
  fail(eventsExpectPath, err.message);
}

for (const f of jsonFiles(eventsDir, ["expect.json"])) {
  const path = join(eventsDir, f);
  const want = eventsExpect[f] && eventsExpect[f].valid;
  if (typeof want !== "boolean") {
    fail(path, "no entry in expect.json");
    continue;
  }
  try {
    const ok = validateEvent(readJson(path));
    const at = eventsExpect[f].error_at;
    if (ok !== want) {
      fail(path, ok ? "accepted, expected invalid" : `rejected, expected valid: ${describe(validateEvent.errors)}`);
    } else if (ok) {
      pass(path, "valid");
    } else if (typeof at !== "string") {
      fail(path, `expect.json gives no "error_at" pointer for an invalid event`);
    } else if (!validateEvent.errors.some((e) => errorLocations(e).includes(at))) {
      fail(path, `no error at ${JSON.stringify(at)}; got: ${describe(validateEvent.errors)}`);
    } else {
      pass(path, `rejected: ${describe([headline(validateEvent.errors, [at])])}`);
    }
  } catch (err) {
    fail(path, err.message);
  }
}

// ---- lifecycle events --------------------------------------------------------

const validateLifecycle = validators.lifecycle;
{
  const path = schemaFiles.lifecycle;
  const schema = readJson(path);
  const undescribed = Object.entries(schema.properties)
    .filter(([, sub]) => typeof sub.description !== "string" || sub.description === "")
    .map(([name]) => name);
  const bad = (schema.examples || [])
    .map((doc, i) => (validateLifecycle(doc) ? null : `examples/${i}: ${describe(validateLifecycle.errors)}`))
    .filter((x) => x !== null);
  if (undescribed.length) fail(path, `no "description" on ${undescribed.join(", ")}`);
  else if (!schema.examples || schema.examples.length === 0) fail(path, "no examples");
  else if (bad.length) fail(path, bad.join("; "));
  else pass(path, `${schema.examples.length} examples valid`);
}

for (const f of jsonFiles(lifecycleDir)) {
  const path = join(lifecycleDir, f);
  const want = f.startsWith("valid_") ? true : f.startsWith("invalid_") ? false : null;
  if (want === null) {
    fail(path, "name must start with valid_ or invalid_");
    continue;
  }
  try {
    const ok = validateLifecycle(readJson(path));
    if (ok !== want) fail(path, ok ? "accepted, expected invalid" : `rejected, expected valid: ${describe(validateLifecycle.errors)}`);
    else pass(path, ok ? "valid" : `rejected: ${describe(validateLifecycle.errors.slice(0, 1))}`);
  } catch (err) {
    fail(path, err.message);
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
