// Fails the build when a bundle grows past its budget (gzip sizes, as a browser downloads them):
// the widget script <= 35 KB, the console's initial load (its index.html and everything it
// references) <= 250 KB.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const KB = 1024;
const gz = (path) => gzipSync(readFileSync(path), { level: 9 }).length;

const widget = gz("dist/widget.js");

const html = readFileSync("dist/app/index.html", "utf8");
const referenced = [...html.matchAll(/(?:src|href)="\/app\/([^"]+)"/g)].map((m) => `dist/app/${m[1]}`);
const console_ = gz("dist/app/index.html") + referenced.reduce((sum, path) => sum + gz(path), 0);

const checks = [
  ["widget.js", widget, 35 * KB],
  [`console initial load (${referenced.length + 1} files)`, console_, 250 * KB],
];
let over = false;
for (const [name, size, budget] of checks) {
  const fits = size <= budget;
  over ||= !fits;
  console.log(`${fits ? "ok  " : "OVER"} ${name}: ${(size / KB).toFixed(1)} KB gzip (budget ${budget / KB} KB)`);
}
if (over) {
  console.error("A bundle exceeds its size budget (web/scripts/check-budgets.mjs).");
  process.exit(1);
}
