// node validate_manifest.js manifest.json
//
// Validates a Teams app manifest against Microsoft's published JSON schema
// for its manifestVersion, as shipped offline in @microsoft/app-manifest
// (draft-04, checked with ajv-draft-04 and ajv-formats). Prints `OK` or one
// line per error; exits 1 on any error.
"use strict";
const fs = require("fs");
const path = require("path");
const Ajv = require("ajv-draft-04");
const addFormats = require("ajv-formats");

const manifest = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const root = path.dirname(require.resolve("@microsoft/app-manifest/package.json"));
const file = path.join(root, "build", "json-schemas", "teams", `v${manifest.manifestVersion}`, "MicrosoftTeams.schema.json");
if (!fs.existsSync(file)) {
  console.log(`no published schema for manifestVersion ${manifest.manifestVersion}`);
  process.exit(1);
}
const schema = JSON.parse(fs.readFileSync(file, "utf8"));
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);
if (validate(manifest)) {
  console.log(`OK: manifest ${manifest.manifestVersion}`);
  process.exit(0);
}
for (const e of validate.errors) console.log(`${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
process.exit(1);
