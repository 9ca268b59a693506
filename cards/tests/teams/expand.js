// node expand.js CASES.json
//
// Expands each template with its data ([{"name", "template", "data"}]) by
// Microsoft's `adaptivecards-templating`, the engine the Adaptive Cards
// Designer previews with, and prints the results as JSON
// ([{"name", "card"}]): what a template author sees in the Designer.
"use strict";
const fs = require("fs");
const ACData = require("adaptivecards-templating");

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = cases.map(({ name, template, data }) => ({
  name,
  card: new ACData.Template(template).expand({ $root: data }),
}));
process.stdout.write(JSON.stringify(out));
