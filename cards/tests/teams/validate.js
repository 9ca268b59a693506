// node validate.js CARDS.json
//
// Checks every Adaptive Card in CARDS.json ([{"name", "card"}]) with
// Microsoft's own `adaptivecards` library: `parse` (unknown elements and
// actions, bad property values) and `validateProperties` (missing ids,
// duplicate ids, missing required properties), exactly as a Teams client's
// renderer reads the card. Prints one line per problem and `OK: N cards` when
// there is none; exits 1 on any problem.
"use strict";
const fs = require("fs");
const AC = require("adaptivecards/dist/adaptivecards.min.js");

const entries = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
let problems = 0;
for (const { name, card: json } of entries) {
  const context = new AC.SerializationContext();
  const card = new AC.AdaptiveCard();
  card.parse(json, context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) events.push(context.getEventAt(i));
  for (const e of card.validateProperties().validationEvents) events.push(e);
  for (const e of events) {
    problems++;
    console.log(`${name}: ${AC.ValidationEvent[e.event] || e.event}: ${e.message}`);
  }
  if (!card.version || card.version.toString() !== "1.5") {
    problems++;
    console.log(`${name}: version is ${card.version}, expected 1.5`);
  }
}
if (problems === 0) console.log(`OK: ${entries.length} cards`);
process.exit(problems === 0 ? 0 : 1);
