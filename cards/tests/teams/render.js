// node render.js CARDS.json OUT_DIR
//
// Renders every card of CARDS.json ([{"name", "card", "click"?}]) in headless
// Chromium with Microsoft's `adaptivecards` renderer, Teams' light host
// config (hostconfig.json beside this file) and markdown-it for the Markdown
// Teams reads, and saves OUT_DIR/NAME.png. Prints a JSON report per card:
// the text as shown, the Markdown elements the renderer produced (links,
// bold, italic, lists), the buttons, and for a card with `click` the data
// that its Approve button hands to the bot after typing `click` as the
// reason. The browser is Debian's (/usr/bin/chromium, or HITL_CHROMIUM).
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const [cardsFile, outDir] = process.argv.slice(2);
const entries = JSON.parse(fs.readFileSync(cardsFile, "utf8"));
const hostConfig = JSON.parse(fs.readFileSync(path.join(__dirname, "hostconfig.json"), "utf8"));
// markdown-it's browser build sits beside its CommonJS entry point.
const markdownIt = path.join(path.dirname(require.resolve("markdown-it")), "browser", "markdown-it.umd.min.js");

const CSS = `
body { margin: 0; padding: 12px; background: #f5f5f5; font-family: "Segoe UI", "DejaVu Sans", sans-serif; }
#card { width: 520px; background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.25); overflow: hidden; }
.ac-pushButton { border: 1px solid #d1d1d1; border-radius: 4px; background: #fff; color: #242424; padding: 5px 12px; font: 600 14px "Segoe UI", "DejaVu Sans", sans-serif; cursor: pointer; }
.ac-pushButton.style-positive { background: #5b5fc7; border-color: #5b5fc7; color: #fff; }
.ac-pushButton.style-destructive { color: #c4314b; border-color: #c4314b; }
.ac-input { font: 14px "Segoe UI", "DejaVu Sans", sans-serif; border: 1px solid #d1d1d1; border-radius: 4px; padding: 4px 6px; }
`;

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.HITL_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 560, height: 400 }, deviceScaleFactor: 1 });
  await page.setContent(`<!doctype html><html><head><meta charset="utf-8"><style>${CSS}</style></head>` +
    `<body><div id="card"></div><pre id="status"></pre></body></html>`);
  await page.addScriptTag({ path: markdownIt });
  await page.addScriptTag({ path: require.resolve("adaptivecards/dist/adaptivecards.min.js") });
  const report = [];
  for (const entry of entries) {
    const result = await page.evaluate(({ card, hostConfig }) => {
      const md = window.markdownit();
      AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, r) => {
        r.outputHtml = md.render(text);
        r.didProcess = true;
      };
      const holder = document.getElementById("card");
      holder.innerHTML = "";
      document.getElementById("status").textContent = "";
      const ac = new AdaptiveCards.AdaptiveCard();
      ac.hostConfig = new AdaptiveCards.HostConfig(hostConfig);
      ac.onExecuteAction = (a) => {
        document.getElementById("status").textContent =
          JSON.stringify({ type: a.getJsonTypeName(), verb: a.verb || null, data: a.data });
      };
      ac.parse(card);
      const el = ac.render();
      if (!el) return { error: "render returned nothing" };
      holder.appendChild(el);
      const count = (sel) => holder.querySelectorAll(sel).length;
      return {
        text: holder.innerText,
        links: count("a"),
        bold: Array.from(holder.querySelectorAll("strong")).map((e) => e.textContent),
        italic: count("em"),
        lists: count("ul, ol, li"),
        // (FactSet renders as a <table> of its own, so tables are not counted.)
        headings: count("h1, h2, h3, h4, h5, h6, hr, blockquote, pre, code, img"),
        buttons: Array.from(holder.querySelectorAll("button")).map((b) => b.textContent),
      };
    }, { card: entry.card, hostConfig });
    if (!result.error) {
      const handle = await page.$("#card");
      await handle.screenshot({ path: path.join(outDir, `${entry.name}.png`) });
      if (entry.click) {
        await page.fill("#card textarea, #card input", entry.click);
        await page.click("#card button:has-text('Approve')");
        result.clicked = JSON.parse(await page.textContent("#status"));
      }
    }
    report.push({ name: entry.name, ...result });
  }
  await browser.close();
  process.stdout.write(JSON.stringify(report));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
